"""`python -m marl_alloc.bench env`: agent-level steps and placements per second of the env.

`--policy` (a heuristic, default best-fit; `random` for random masked actions) acts through the
cluster, rack and leaf levels in `--num-envs` lockstep datacenters of the `--workload` env config,
with Hydra-style `env.*` overrides. An agent-level step is one active env's decision at one level;
a placement is a task put on a host. `--steps` agent-level steps are timed after a short warm-up,
policy time included. Prints one JSON line with `--json`.

    python -m marl_alloc.bench env --num-envs 64 --steps 20000 --json \
        [env.topology.hosts_per_leaf=32]
"""

import argparse
import sys
import time
from typing import Any

import numpy as np

from marl_alloc.bench.report import run_benchmark
from marl_alloc.floor.command_line import CommandParser

WARMUP_CALLS = 30


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench env")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20000, help="agent-level steps to time")
    parser.add_argument("--workload", default="synthetic", help="an env config (conf/env/NAME)")
    parser.add_argument("--policy", default="best-fit", help="random or a heuristic name")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env.max_defers=2")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the env, warm up, time `args.steps` agent-level steps."""
    from envs import HEURISTICS, VectorDatacenterEnv
    from marl_alloc.floor.errors import UserError
    from marl_alloc.floor.settings.compose import compose_settings

    if args.num_envs <= 0 or args.steps <= 0:
        raise UserError("--num-envs and --steps must be > 0")
    if args.policy not in HEURISTICS:
        raise UserError(f"--policy must be one of {', '.join(HEURISTICS)}, got {args.policy}")
    settings = compose_settings([f"env={args.workload}", *args.overrides]).env
    env = VectorDatacenterEnv(settings, num_envs=args.num_envs, seed=args.seed, continuing=True)
    policy = HEURISTICS[args.policy](seed=args.seed)
    level_obs = env.reset(seed=args.seed)
    for _ in range(WARMUP_CALLS):
        level_obs = env.step(policy.act(env, level_obs)).next
    placed_before = float(np.sum(env.metrics()["tasks_placed"]))
    steps = calls = 0
    start = time.perf_counter()
    while steps < args.steps:
        steps += int(level_obs.active.sum())
        level_obs = env.step(policy.act(env, level_obs)).next
        calls += 1
    wall_s = time.perf_counter() - start
    metrics = env.metrics()
    placements = float(np.sum(metrics["tasks_placed"])) - placed_before
    return {
        "bench": "env",
        "workload": args.workload,
        "policy": args.policy,
        "num_envs": args.num_envs,
        "hosts": env.topology.num_hosts,
        "steps": steps,
        "wall_s": round(wall_s, 4),
        "env_steps_per_s": round(steps / wall_s, 1),
        "placements_per_s": round(placements / wall_s, 1),
        "step_calls_per_s": round(calls / wall_s, 1),
        "sla_violation_rate": float(np.mean(metrics["sla_violation_rate"])),
        "mean_utilization": float(np.mean(metrics["mean_utilization"])),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
