"""`python -m marl_alloc.bench frontier`: each heuristic's energy-SLA frontier over packing targets.

Scores every `--policies` heuristic at every `--targets` packing target (NAME@TARGET: CPU
requests per unit of capacity it packs to; envs/heuristics.py) on `--episodes` seeded finite
episodes of the `--workload` env config at each `--loads` load factor (trace workloads), through
the same scoring path as evaluate (marl_alloc.scoring.score). Prints, per policy, target and
load, the mean energy, SLATAH, PDM, SLAV, SLO misses, rejections and total cost over episodes.

    python -m marl_alloc.bench frontier --workload google2011 --json \
        [--policies best-fit pabfd lifetime-pabfd] [--targets 1.0 1.5 2.0 2.5 3.0]
"""

import argparse
import sys
import time
from typing import Any

from marl_alloc.bench.report import run_benchmark

METRICS = (
    "energy_kwh",
    "slatah",
    "pdm",
    "slav",
    "slo_violations",
    "tasks_rejected",
    "total_cost",
    "active_hosts_mean",
    "mean_utilization",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m marl_alloc.bench frontier")
    parser.add_argument("--workload", default="google2011", help="an env config (conf/env/NAME)")
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["first-fit", "best-fit", "pabfd", "lifetime-pabfd"],
        help="heuristic names (swept over --targets)",
    )
    parser.add_argument("--targets", nargs="+", type=float, default=[1.0, 1.5, 2.0, 2.5, 3.0])
    parser.add_argument("--loads", nargs="+", type=float, default=[1.0], help="load factors")
    parser.add_argument("--episodes", type=int, default=3, help="seeded episodes per point")
    parser.add_argument("--episode-tasks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env.usage.sigma=0.4")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Score each (policy, target, load) point."""
    import dataclasses

    from envs import make_heuristic
    from marl_alloc.floor.errors import UserError
    from marl_alloc.floor.settings import TraceWorkloadConfig
    from marl_alloc.floor.settings.compose import compose_settings
    from marl_alloc.scoring import score

    if args.episodes <= 0 or args.episode_tasks <= 0:
        raise UserError("--episodes and --episode-tasks must be > 0")
    if min(args.loads) <= 0:
        raise UserError("--loads must be > 0")
    specs = [f"{name}@{target:g}" for name in args.policies for target in args.targets]
    for spec in specs:
        make_heuristic(spec)  # a bad name or target fails before any episode runs
    base = compose_settings([f"env={args.workload}", *args.overrides]).env
    config = dataclasses.replace(base, episode_tasks=args.episode_tasks)
    is_trace = isinstance(config.workload, TraceWorkloadConfig)
    if args.loads != [1.0] and not is_trace:
        raise UserError(f"--loads needs a trace workload; {args.workload} has no load_factor")
    points, started = [], time.perf_counter()
    for load in args.loads:
        settings = config
        if is_trace:
            workload = dataclasses.replace(config.workload, load_factor=load)
            settings = dataclasses.replace(config, workload=workload)
        for spec in specs:
            metrics = score(
                make_heuristic(spec, seed=args.seed), settings, args.episodes, args.seed
            )
            point = {"policy": spec, "load": load}
            for key in METRICS:
                value = metrics[key]
                # Sums over episodes become per-episode means, like the rates.
                per_episode = key in (
                    "energy_kwh",
                    "slo_violations",
                    "tasks_rejected",
                    "total_cost",
                )
                value = float(value) / (args.episodes if per_episode else 1)
                point[key] = float(f"{value:.6g}")
            points.append(point)
    return {
        "bench": "frontier",
        "workload": args.workload,
        "episodes": args.episodes,
        "episode_tasks": args.episode_tasks,
        "seed": args.seed,
        "knowledge": config.knowledge.durations,
        "cpu_overcommit_max": config.hosts.cpu_overcommit_max,
        "points": points,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; exit 2 on a bad option, policy or config."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
