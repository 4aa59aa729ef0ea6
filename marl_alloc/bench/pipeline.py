"""`python -m marl_alloc.bench pipeline`: our Ape-X pipeline against RLlib 2.60's stock DQN.

Both train on the same MultiAgentEnv (DatacenterMultiAgentEnv, the same env config), in one Ray
session with the same `--num-cpus`, for the same wall budget, at the same replay ratio (trained
samples per env step: each update trains `train_batch_size` rows of each level module), with the
same networks: per level an MLP torso of `model.policy.hidden_sizes` and linear dueling heads
(ours: `model.policy.encoder=mlp`; RLlib: its default DQN module, masked to the legal actions).

- ours: ApexAlgorithm; the replay rate limiter holds `replay.samples_per_insert = R`.
- RLlib: DQNConfig on the new API stack with MultiAgentPrioritizedEpisodeReplayBuffer, the three
  level modules mapped as ours (policy.module_for_agent), `training_intensity` set so that it
  trains R samples per env step. Its updates are its trained module steps / (batch * modules).

Rates are counted over the budget after each system's warm-up (replay filled to
`replay.min_size_to_sample`, first update done). Then the scaling table: our env steps/s with
1, 2, 4 ... env actors, rate limiter off. Prints one JSON line with `--json`.

    python -m marl_alloc.bench pipeline --seconds 60 --replay-ratio 1.0 --json
"""

import argparse
import time
from typing import Any

from marl_alloc.bench.report import run_benchmark, start_local_ray
from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.settings import Settings
from marl_alloc.policy import LEVEL_MODULES

WARMUP_TIMEOUT_S = 300.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench pipeline")
    parser.add_argument("--seconds", type=float, default=60.0, help="wall budget per system")
    parser.add_argument("--num-cpus", type=int, default=2, help="Ray CPUs for each system")
    parser.add_argument("--replay-ratio", type=float, default=1.0, help="trained samples/env step")
    parser.add_argument("--num-actors", type=int, default=2, help="our env actors")
    parser.add_argument("--rllib-env-runners", type=int, default=0)
    parser.add_argument("--rllib-fragment", type=int, default=64, help="rollout_fragment_length")
    parser.add_argument("--scaling", default="1,2,4", help="actor counts ('' to skip)")
    parser.add_argument("--scaling-seconds", type=float, default=20.0)
    parser.add_argument("--skip-rllib", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both systems")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.replay_ratio <= 0 or args.num_actors < 1 or args.num_cpus < 1:
        parser.error("--seconds, --replay-ratio, --num-actors and --num-cpus must be > 0")
    return args


def bench_settings(
    overrides: list[str], num_actors: int, num_cpus: int, ratio: float | None, spares: int = 0
) -> Settings:
    """The shared config: MLP policy, `num_actors` env actors (and `spares` idle) fitted into
    `num_cpus` Ray CPUs, replay rate-limited to `ratio` samples per insert (None: off)."""
    from marl_alloc.floor.settings.compose import compose_settings

    fixed = [
        "model.policy.encoder=mlp",
        f"training.num_actors={num_actors}",
        f"training.spare_actors={spares}",
        "replay.samples_per_insert=" + ("null" if ratio is None else str(ratio)),
        "training.checkpoint_every_s=0",
    ]
    base = compose_settings([*fixed, *overrides])
    free = num_cpus - base.training.learner_num_cpus - base.replay.num_cpus * base.replay.num_shards
    # Logical CPUs only place actors; with more actors than cores they share the cores.
    # Spares reserve none (see RayRuntime).
    actor_cpus = min(max(free, 0.01) / num_actors, 1.0)
    return compose_settings([*fixed, f"training.actor_num_cpus={actor_cpus:.4f}", *overrides])


def window(start: dict[str, float], end: dict[str, float]) -> dict[str, float]:
    """Rates between two counter readings {time_s, env_steps, updates, trained_samples}."""
    seconds = end["time_s"] - start["time_s"]
    env_steps = end["env_steps"] - start["env_steps"]
    trained = end["trained_samples"] - start["trained_samples"]
    return {
        "seconds": round(seconds, 2),
        "env_steps": int(env_steps),
        "env_steps_per_s": round(env_steps / seconds, 1),
        "updates_per_s": round((end["updates"] - start["updates"]) / seconds, 2),
        "replay_ratio": round(trained / env_steps, 3) if env_steps else 0.0,
    }


def timed(algo, read, seconds: float) -> dict[str, float]:
    """Train until warmed up (an update done), then for `seconds`; the window's rates."""
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    counters = read(algo.train())
    while counters["updates"] <= 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no learner update within {WARMUP_TIMEOUT_S:.0f} s of warm-up")
        counters = read(algo.train())
    start = counters
    while counters["time_s"] - start["time_s"] < seconds:
        counters = read(algo.train())
    return window(start, counters)


def measure_apex(settings: Settings, seconds: float) -> dict[str, Any]:
    """Our pipeline's rates over `seconds` after warm-up."""
    import ray

    from marl_alloc.apex.algorithm import ENV_STEPS_LIFETIME, UPDATES_LIFETIME
    from marl_alloc.apex.builder import build_apex_config

    algo = build_apex_config(settings).build_algo()

    def read(result: dict) -> dict[str, float]:
        shards = algo.runtime.shards
        sampled = sum(s["sampled"] for s in ray.get([s.stats.remote() for s in shards]))
        return {
            "time_s": time.monotonic(),
            "env_steps": result.get(ENV_STEPS_LIFETIME, 0),
            "updates": result.get(UPDATES_LIFETIME, 0),
            "trained_samples": sampled,
        }

    try:
        out = timed(algo, read, seconds)
    finally:
        algo.stop()
    return {
        **out,
        "num_actors": settings.training.num_actors,
        "envs_per_actor": settings.env.num_envs_per_actor,
        "train_batch_size": settings.training.train_batch_size,
        "parameters": _apex_parameters(settings),
    }


def _apex_parameters(settings: Settings) -> int:
    from marl_alloc.apex.builder import build_apex_config

    module = build_apex_config(settings).rl_module_spec.build()
    return sum(p.numel() for m in LEVEL_MODULES for p in module[m].parameters())


def masked_dqn_module_class() -> type:
    """RLlib's default DQN torch module, its Q-values masked to the env's legal actions.

    The env observes {"obs", "action_mask"}: the default encoder sees "obs", and illegal actions
    get -inf, which RLlib's DQN handles already (greedy, epsilon-random and loss skip them).
    """
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
    from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import (
        DefaultDQNTorchRLModule,
    )
    from ray.rllib.core.columns import Columns

    class MaskedDQNTorchRLModule(DefaultDQNTorchRLModule):
        def __init__(self, *args, observation_space=None, **kwargs):
            super().__init__(*args, observation_space=observation_space["obs"], **kwargs)

        def _qf_forward_helper(self, batch, encoder, head):
            obs = batch[Columns.OBS]
            out = super()._qf_forward_helper({**batch, Columns.OBS: obs["obs"]}, encoder, head)
            out[QF_PREDS] = out[QF_PREDS].masked_fill(obs["action_mask"] == 0, float("-inf"))
            return out

    return MaskedDQNTorchRLModule


def rllib_training_intensity(ratio: float, num_env_runners: int) -> float:
    """DQN's `training_intensity` that trains `ratio` samples per env step.

    RLlib counts one train batch per update against env steps from (runners + 1) samplers,
    while it samples from max(runners, 1) of them and each update trains every level module.
    """
    samplers = max(num_env_runners, 1)
    return ratio * samplers / (len(LEVEL_MODULES) * (num_env_runners + 1))


def rllib_dqn_config(settings: Settings, args: argparse.Namespace):
    """RLlib's DQN (new API stack, prioritized episode replay) on our env and network sizes."""
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from envs import ENV_NAME, register_envs
    from marl_alloc.policy import module_for_agent

    register_envs()
    training, replay, policy = settings.training, settings.replay, settings.model.policy
    module_class = masked_dqn_module_class()
    return (
        DQNConfig()
        .environment(ENV_NAME, env_config={"env": settings.env, "seed": settings.seed})
        .env_runners(
            num_env_runners=args.rllib_env_runners,
            num_envs_per_env_runner=1,
            rollout_fragment_length=args.rllib_fragment,
        )
        .multi_agent(policies=list(LEVEL_MODULES), policy_mapping_fn=module_for_agent)
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(
                rl_module_specs={m: RLModuleSpec(module_class=module_class) for m in LEVEL_MODULES}
            ),
            model_config=DefaultModelConfig(
                fcnet_hiddens=list(policy.hidden_sizes), head_fcnet_hiddens=[]
            ),
        )
        .training(
            lr=training.lr,
            gamma=training.gamma,
            grad_clip=training.grad_clip,
            train_batch_size_per_learner=training.train_batch_size,
            n_step=training.n_step,
            double_q=True,
            dueling=policy.dueling,
            num_atoms=1,
            replay_buffer_config={
                "type": "MultiAgentPrioritizedEpisodeReplayBuffer",
                "capacity": replay.capacity,
                "alpha": replay.alpha,
                "beta": replay.beta_init,
            },
            num_steps_sampled_before_learning_starts=replay.min_size_to_sample,
            training_intensity=rllib_training_intensity(args.replay_ratio, args.rllib_env_runners),
        )
        .debugging(seed=settings.seed)
    )


def measure_rllib(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """RLlib DQN's rates over the same budget after its warm-up."""
    from ray.rllib.utils.metrics import (
        ALL_MODULES,
        ENV_RUNNER_RESULTS,
        LEARNER_RESULTS,
        NUM_ENV_STEPS_SAMPLED_LIFETIME,
        NUM_MODULE_STEPS_TRAINED_LIFETIME,
    )

    batch = settings.training.train_batch_size
    algo = rllib_dqn_config(settings, args).build_algo()

    def read(result: dict) -> dict[str, float]:
        learners = result.get(LEARNER_RESULTS, {})
        trained = sum(
            v.get(NUM_MODULE_STEPS_TRAINED_LIFETIME, 0)
            for k, v in learners.items()
            if k != ALL_MODULES
        )
        return {
            "time_s": time.monotonic(),
            "env_steps": result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME],
            # Every update trains one batch of each level module.
            "updates": trained / (batch * len(LEVEL_MODULES)),
            "trained_samples": trained,
        }

    try:
        out = timed(algo, read, args.seconds)
        parameters = sum(p.numel() for m in LEVEL_MODULES for p in algo.get_module(m).parameters())
    finally:
        algo.stop()
    return {
        **out,
        "num_env_runners": args.rllib_env_runners,
        "rollout_fragment_length": args.rllib_fragment,
        "training_intensity": round(
            rllib_training_intensity(args.replay_ratio, args.rllib_env_runners), 4
        ),
        "train_batch_size": batch,
        "parameters": parameters,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start Ray with `--num-cpus`, measure ours, RLlib's DQN, then our scaling."""
    import ray

    start_local_ray(args.num_cpus)
    try:
        settings = bench_settings(args.overrides, args.num_actors, args.num_cpus, args.replay_ratio)
        result: dict[str, Any] = {
            "bench": "pipeline",
            "num_cpus": args.num_cpus,
            "seconds": args.seconds,
            "replay_ratio_target": args.replay_ratio,
            "ours": measure_apex(settings, args.seconds),
        }
        if not args.skip_rllib:
            rllib = measure_rllib(settings, args)
            ours = result["ours"]
            result["rllib_dqn"] = rllib
            result["env_steps_ratio"] = round(
                ours["env_steps_per_s"] / max(rllib["env_steps_per_s"], 1e-9), 2
            )
            result["updates_ratio"] = round(
                ours["updates_per_s"] / max(rllib["updates_per_s"], 1e-9), 2
            )
        counts = [int(n) for n in args.scaling.split(",") if n.strip()]
        result["scaling"] = [
            measure_apex(
                bench_settings(args.overrides, n, args.num_cpus, None), args.scaling_seconds
            )
            for n in counts
        ]
    finally:
        ray.shutdown()
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)
