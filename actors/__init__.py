"""Env actors: step many datacenters with a local policy copy and push n-step transitions.

    actors.env_worker   EnvWorker (the plain class), apex_epsilon
    actors.adder        NStepAdder (env steps to n-step replay items)
    actors.env_actor    EnvActor (its Ray shell), RemoteShardSink

Nothing is imported here: a restarting EnvActor defers the heavy imports (see env_actor).
"""
