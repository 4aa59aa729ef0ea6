"""Env actors: step many datacenters with a local policy copy and push n-step transitions."""

from actors.adder import NStepAdder
from actors.env_worker import EnvWorker, apex_epsilon

__all__ = ["EnvWorker", "NStepAdder", "apex_epsilon"]
