"""`python -m marl_alloc.bench forecast-value`: does forecasting lower the held-out cost?

Each seed trains the same budget three times, with the learning bench's protocol
(marl_alloc/bench/learning.py), the arms differing only in what the policy foresees of
`--signal`:

- demand (default): `without` forecasts (the forecast slots read zeros), with the policy's
  learned `forecast`er (model.forecaster.enabled), and with the `oracle` forecast, the true
  future demand per leaf group (env.knowledge.demand_forecast=oracle);
- carbon: the intensity a deferral would meet `without` (only the current one observed),
  `forecast` causally (env.carbon.forecast=causal) or read from the future (`oracle`);
- usage: the host usage the overcommit features, PABFD's overload check and the overload
  charge read (env.knowledge.host_usage): the one measured now (`without`), a causal
  `forecast` over the next usage periods from the running tasks' observed usage, or the true
  expected usage (`oracle`). It matters where hosts may be packed past capacity
  (env.hosts.cpu_overcommit_max > 1).

The oracle arms are ablations no scheduler can run: the ceiling of what a forecast can be worth.
Each trained policy acts greedily on the same held-out episodes (validation seed, never the
learning test's 777).

cost_ratio (oracle_cost_ratio): the forecast (oracle) arm's total cost over the `without` arm's,
per (seed, episode) cell, paired on the same episode; mean and 95% percentile bootstrap over
cells (marl_alloc/scoring/bootstrap.py). train_time_ratio: the forecast arm's training wall time
over the `without` arm's, summed over seeds.

    python -m marl_alloc.bench forecast-value --seeds 0 1 2 --env-steps 30000 --json
    python -m marl_alloc.bench forecast-value --signal carbon --experiment caiso_carbon --json
    python -m marl_alloc.bench forecast-value --signal usage --json env.hosts.cpu_overcommit_max=2
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.bench.episode_seeds import VALIDATION_EVAL_SEED, refuse_test_episodes
from marl_alloc.bench.learning import PROTOCOL, run_settings, train_seed
from marl_alloc.floor.command_line import CommandParser

ARMS = ("without", "forecast", "oracle")
# What each arm sets, per foresight signal; the bench owns these keys, so an override of them
# is refused.
SIGNALS = {
    "demand": {
        "without": ("model.forecaster.enabled=false", "env.knowledge.demand_forecast=policy"),
        "forecast": ("model.forecaster.enabled=true", "env.knowledge.demand_forecast=policy"),
        "oracle": ("model.forecaster.enabled=false", "env.knowledge.demand_forecast=oracle"),
    },
    "carbon": {
        "without": ("env.carbon.forecast=none",),
        "forecast": ("env.carbon.forecast=causal",),
        "oracle": ("env.carbon.forecast=oracle",),
    },
    "usage": {
        "without": ("env.knowledge.host_usage=current",),
        "forecast": ("env.knowledge.host_usage=forecast",),
        "oracle": ("env.knowledge.host_usage=oracle",),
    },
}
OWNED_KEYS = (
    "model.forecaster.enabled",
    "env.knowledge.demand_forecast",
    "env.carbon.forecast",
    "env.knowledge.host_usage",
)
KNOWLEDGE = {
    "demand": {
        "without": "no demand forecast (zeros)",
        "forecast": "the policy's learned forecaster, fed the closed demand bins (causal)",
        "oracle": "ablation: the true future demand (env.knowledge.demand_forecast=oracle)",
    },
    "carbon": {
        "without": "the current grid intensity only",
        "forecast": "a causal forecast of the intensity a deferral meets (env.carbon.forecast)",
        "oracle": "ablation: the true future intensity (env.carbon.forecast=oracle)",
    },
    "usage": {
        "without": "the host usage measured now",
        "forecast": "a causal forecast of host usage from the running tasks' observed usage",
        "oracle": "ablation: the true expected host usage (env.knowledge.host_usage=oracle)",
    },
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench forecast-value")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=30_000, help="budget per seed and arm")
    parser.add_argument("--experiment", help="an experiment preset (conf/experiment/NAME.yaml)")
    parser.add_argument(
        "--signal", choices=tuple(SIGNALS), default="demand", help="what the arms forecast"
    )
    parser.add_argument("--episodes", type=int, default=8, help="validation episodes")
    parser.add_argument("--tasks", type=int, default=300, help="tasks per episode")
    parser.add_argument(
        "--eval-seed", type=int, default=VALIDATION_EVAL_SEED, help="validation episodes' seed"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every arm")
    args = parser.parse_args(argv)
    if args.env_steps < 1 or args.episodes < 1 or args.tasks < 1:
        parser.error("--env-steps, --episodes and --tasks must be >= 1")
    refuse_test_episodes(parser, args.eval_seed)
    owned = [o for o in args.overrides if o.lstrip("+~").split("=")[0] in OWNED_KEYS]
    if owned:
        parser.error(f"{owned[0]}: the bench sets {' and '.join(OWNED_KEYS)} per arm")
    return args


def arm_overrides(
    arm: str, overrides: list[str], experiment: str | None, signal: str = "demand"
) -> list[str]:
    """The Hydra overrides an arm trains and is scored with: the preset, the user's, then the
    arm's own; the demand oracle's bins are the forecaster's (model.forecaster.resolution_s)."""
    base = ([f"experiment={experiment}"] if experiment else []) + list(overrides)
    own = list(SIGNALS[signal][arm])
    if signal == "demand" and arm == "oracle":
        resolution = run_settings(base, 0, 1).model.forecaster.resolution_s
        own.append(f"env.knowledge.oracle_bin_s={resolution}")
    return base + own


def paired_ratio(arm: np.ndarray, without: np.ndarray, rng: np.random.Generator) -> dict:
    """{"mean", "ci95"} of arm / without over paired cells (same seed and episode)."""
    from marl_alloc.scoring.bootstrap import mean_ci

    return mean_ci(np.asarray(arm) / np.asarray(without), rng)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train every arm of every seed, score each on the held-out episodes, compare."""
    from marl_alloc.bench.held_out import HeldOutEpisodes
    from marl_alloc.policy import acting_policy

    overrides = {
        arm: arm_overrides(arm, args.overrides, args.experiment, args.signal) for arm in ARMS
    }
    costs = {arm: [] for arm in ARMS}  # per seed: [episodes] total costs
    wall = {arm: 0.0 for arm in ARMS}
    load_start = os.getloadavg()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="forecast-value-") as scratch:
        for seed in args.seeds:
            for arm in ARMS:
                settings = run_settings(overrides[arm], seed, args.env_steps)
                validation = HeldOutEpisodes(
                    settings.env, args.episodes, args.tasks, args.eval_seed
                )
                run_dir = Path(scratch) / f"seed{seed}-{arm}"
                _, trained, wall_s = train_seed(settings, seed, run_dir)
                episode = validation.episode_metrics(acting_policy(trained))["total_cost"]
                costs[arm].append(episode)
                wall[arm] += wall_s
                figures = f"cost {episode.mean():.2f}, trained in {wall_s:.0f} s"
                print(f"seed {seed} {arm}: {figures}", file=sys.stderr)
    cells = {arm: np.concatenate(costs[arm]) for arm in ARMS}
    rng = np.random.default_rng(0)
    # The cells of one seed share its training: the per-seed ratios show that spread.
    seed_ratios = {
        f"{arm}_over_without": [
            round(float((ours / without).mean()), 4)
            for ours, without in zip(costs[arm], costs["without"], strict=True)
        ]
        for arm in ("forecast", "oracle")
    }
    return {
        "bench": "forecast-value",
        "measure": "total cost per validation episode, greedy policy (lower is better)",
        "signal": args.signal,
        "cost_ratio": paired_ratio(cells["forecast"], cells["without"], rng),
        "oracle_cost_ratio": paired_ratio(cells["oracle"], cells["without"], rng),
        "train_time_ratio": wall["forecast"] / wall["without"],
        "oracle_train_time_ratio": wall["oracle"] / wall["without"],
        "seed_ratios": seed_ratios,
        "seeds": args.seeds,
        "env_steps": args.env_steps,
        "experiment": args.experiment,
        "validation": {"episodes": args.episodes, "tasks": args.tasks, "seed": args.eval_seed},
        "knowledge": KNOWLEDGE[args.signal],
        "protocol": list(PROTOCOL),
        "arms": {
            arm: {
                "mean_cost": float(cells[arm].mean()),
                "seed_costs": [round(float(c.mean()), 3) for c in costs[arm]],
                "train_wall_s": round(wall[arm], 1),
                "overrides": overrides[arm],
            }
            for arm in ARMS
        },
        "wall_s": round(time.monotonic() - start, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def format_table(result: dict[str, Any]) -> str:
    """The result as a readable table."""
    v = result["validation"]
    lines = [
        f"forecast-value ({result['signal']}): {len(result['seeds'])} seeds x "
        f"{result['env_steps']:,} env steps per arm; validation {v['episodes']} episodes x "
        f"{v['tasks']} tasks, seed {v['seed']}",
        f"{'arm':>8}  {'cost':>8}  {'train s':>8}  per seed",
    ]
    for arm, a in result["arms"].items():
        lines.append(
            f"{arm:>8}  {a['mean_cost']:>8.2f}  {a['train_wall_s']:>8.0f}  {a['seed_costs']}"
        )
    for key in ("cost_ratio", "oracle_cost_ratio"):
        ratio = result[key]
        lo, hi = ratio["ci95"] or (float("nan"), float("nan"))
        lines.append(f"{key}: {ratio['mean']:.3f} [{lo:.3f}, {hi:.3f}]")
    lines.append(f"train_time_ratio: {result['train_time_ratio']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; a table, or one JSON line with --json; exit 2 on bad input."""
    from marl_alloc.bench.report import run_benchmark

    return run_benchmark(parse_args, run, argv, table=format_table)
