"""`python -m marl_alloc.bench learning`: does training lower the total cost, on validation data?

The validation protocol for choosing training settings. Each seed trains with the learning
test's budget and settings (one process, `training.local=true`; the same seed trains the same
policy), then its untrained and trained policies act greedily on held-out synthetic episodes of
another seed (`--eval-seed`, default 4242), next to every heuristic on the same episodes. The
learning test's episodes (tests/marl_alloc/test_learning.py, seed 777) are test data: this bench
refuses them, so settings are never chosen on the test.

Per seed: total cost untrained and trained, their ratio, the trained cost over the best
heuristic's, and what the trained cost is made of (energy, SLA, rejections, waits). Over seeds:
mean, median and a 95% Student-t interval of each ratio (seeds are the independent unit; a
bootstrap over four values would be too narrow).

    python -m marl_alloc.bench learning --seeds 0 1 2 3 --env-steps 60000 --json \
        env.knowledge.durations=oracle
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.bench.episode_seeds import VALIDATION_EVAL_SEED, refuse_test_episodes
from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.strict_json import write_json

# The learning test's training settings (tests/marl_alloc/test_learning.py trains with these), so
# that what is chosen here is what the test then trains.
LEARNING_TEST_SETTINGS = (
    "training.local=true",
    "training.num_actors=2",
    "training.collect_cycles=16",
    "training.updates_per_round=8",
    "training.train_batch_size=64",
    "env.num_envs_per_actor=16",
    "replay.min_size_to_sample=500",
    "replay.capacity=60000",
)
# Without the test's mid-run checkpoints, which cost time and change nothing a local run learns.
PROTOCOL = (*LEARNING_TEST_SETTINGS, "training.checkpoint_every_s=0")
# What a trained policy's cost is made of, per episode (envs.metrics).
BREAKDOWN = (
    "energy_kwh",
    "carbon_kg",
    "slatah",
    "tasks_rejected",
    "slo_violations",
    "deferrals",
    "migrations",
    "active_hosts_mean",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench learning")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--env-steps", type=int, default=60_000, help="budget per seed")
    parser.add_argument("--episodes", type=int, default=8, help="validation episodes")
    parser.add_argument("--tasks", type=int, default=300, help="tasks per episode")
    parser.add_argument(
        "--eval-seed", type=int, default=VALIDATION_EVAL_SEED, help="validation episodes' seed"
    )
    parser.add_argument(
        "--heuristics", nargs="*", help="heuristic specs scored alongside (default: all)"
    )
    parser.add_argument(
        "--curve-every", type=int, default=0, help="also score every N env steps (0: only the end)"
    )
    parser.add_argument("--out", help="dir for learning.json and the runs' checkpoints")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every seed")
    args = parser.parse_args(argv)
    if args.env_steps < 1 or args.episodes < 1 or args.tasks < 1 or args.curve_every < 0:
        parser.error("--env-steps, --episodes and --tasks must be >= 1, --curve-every >= 0")
    if len(args.seeds) < 2:
        parser.error("--seeds: an interval over seeds needs at least 2")
    refuse_test_episodes(parser, args.eval_seed)
    return args


def seed_interval(values: Sequence[float]) -> dict[str, Any]:
    """Mean, median and 95% Student-t interval of per-seed values."""
    from scipy import stats

    x = np.asarray(values, np.float64)
    mean = float(x.mean())
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return {
        "mean": mean,
        "median": float(statistics.median(x.tolist())),
        "ci95": [mean - half, mean + half],
    }


def run_settings(overrides: Sequence[str], seed: int, env_steps: int):
    """One seed's settings: the protocol, the overrides, then seed and budget."""
    from marl_alloc.floor.settings.compose import compose_settings

    return compose_settings(
        [*PROTOCOL, *overrides, f"seed={seed}", f"training.total_env_steps={env_steps}"]
    )


def train_seed(settings, seed: int, run_dir: Path, on_round=None) -> tuple[Any, Any, float]:
    """(untrained module, trained module, training wall seconds) of one seed; the untrained
    module is built as the learning test builds it. on_round: a train.RoundHook."""
    import torch

    from marl_alloc.apex.builder import env_dimensions
    from marl_alloc.policy import build_policy_spec
    from marl_alloc.policy.checkpoint import load_policy
    from marl_alloc.train import run_training

    obs_dims, num_actions = env_dimensions(settings.env)
    torch.manual_seed(seed)
    untrained = build_policy_spec(obs_dims, num_actions, settings.model.policy).build()
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    trained, _ = load_policy(run_training(settings, run_dir, on_round=on_round))
    return untrained, trained, time.monotonic() - start


def _means(episodes: dict[str, np.ndarray]) -> dict[str, float]:
    """total_cost and its BREAKDOWN, each a mean over episodes."""
    return {k: float(episodes[k].mean()) for k in ("total_cost", *BREAKDOWN)}


def seed_result(
    seed: int,
    untrained: np.ndarray,
    trained: dict[str, np.ndarray],
    best_heuristic: float | None,
    train_wall_s: float,
) -> dict[str, Any]:
    """One seed's figures from its per-episode untrained costs and trained metrics; the
    per-episode costs show how much of a ratio is the episodes' own spread."""
    before, after = float(untrained.mean()), float(trained["total_cost"].mean())
    return {
        "seed": seed,
        "untrained_cost": before,
        "trained_cost": after,
        "trained_over_untrained": after / before,
        "trained_over_best_heuristic": after / best_heuristic if best_heuristic else None,
        "trained": _means(trained),
        "episode_costs": {
            "untrained": [round(float(c), 3) for c in untrained],
            "trained": [round(float(c), 3) for c in trained["total_cost"]],
        },
        "train_wall_s": round(train_wall_s, 1),
    }


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Intervals over seeds of the trained/untrained and trained/best-heuristic cost ratios
    (the latter null when no heuristic was scored)."""
    out = {}
    for key in ("trained_over_untrained", "trained_over_best_heuristic"):
        values = [r[key] for r in runs]
        out[key] = None if None in values else seed_interval(values)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Score the heuristics, then train and score every seed in turn."""
    from envs import HEURISTICS, make_heuristic
    from marl_alloc.bench.held_out import HeldOutEpisodes
    from marl_alloc.bench.replay_ablation import CurveRecorder
    from marl_alloc.policy import acting_policy

    env_settings = run_settings(args.overrides, args.seeds[0], args.env_steps).env
    validation = HeldOutEpisodes(env_settings, args.episodes, args.tasks, args.eval_seed)
    specs = list(HEURISTICS) if args.heuristics is None else args.heuristics
    heuristics = {s: _means(validation.episode_metrics(make_heuristic(s))) for s in specs}
    costs = {s: h["total_cost"] for s, h in heuristics.items()}
    best_name = min(costs, key=costs.get) if costs else None
    load_start = os.getloadavg()
    start = time.monotonic()
    runs = []
    with tempfile.TemporaryDirectory(prefix="learning-") as scratch:
        runs_dir = Path(args.out) / "runs" if args.out else Path(scratch)
        for seed in args.seeds:
            settings = run_settings(args.overrides, seed, args.env_steps)
            curve = CurveRecorder(validation, args.curve_every, args.env_steps)
            hook = curve if args.curve_every else None
            untrained, trained, wall_s = train_seed(settings, seed, runs_dir / f"seed{seed}", hook)
            before = validation.episode_metrics(acting_policy(untrained))["total_cost"]
            after = validation.episode_metrics(acting_policy(trained))
            runs.append(seed_result(seed, before, after, costs.get(best_name), wall_s))
            if args.curve_every:  # costs; the recorder keeps returns
                runs[-1]["curve"] = [(steps, -value) for steps, value in curve.curve]
            figures = f"{runs[-1]['untrained_cost']:.2f} -> {runs[-1]['trained_cost']:.2f}"
            print(f"seed {seed}: {figures}", file=sys.stderr)
    result = {
        "bench": "learning",
        "measure": "total cost per validation episode, greedy policy (lower is better)",
        "seeds": args.seeds,
        "env_steps": args.env_steps,
        "validation": {"episodes": args.episodes, "tasks": args.tasks, "seed": args.eval_seed},
        "overrides": [*PROTOCOL, *args.overrides],
        "knowledge": env_settings.knowledge.durations,
        "heuristics": heuristics,
        "best_heuristic": best_name,
        "runs": runs,
        **summarize(runs),
        "wall_s": round(time.monotonic() - start, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_json(Path(args.out) / "learning.json", result)
    return result


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _interval(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "-"
    lo, hi = summary["ci95"]
    return f"mean {summary['mean']:.3f} [{lo:.3f}, {hi:.3f}], median {summary['median']:.3f}"


def format_table(result: dict[str, Any]) -> str:
    """The result as a readable table."""
    v = result["validation"]
    lines = [
        f"learning: {len(result['seeds'])} seeds x {result['env_steps']:,} env steps, "
        f"knowledge={result['knowledge']}; validation {v['episodes']} episodes x {v['tasks']} "
        f"tasks, seed {v['seed']}",
        f"{'seed':>4}  {'untrained':>9}  {'trained':>8}  {'ratio':>6}  {'/best':>6}  "
        f"{'kWh':>7}  {'SLATAH':>7}  {'rejected':>8}  {'train s':>7}",
    ]
    for r in result["runs"]:
        t = r["trained"]
        lines.append(
            f"{r['seed']:>4}  {r['untrained_cost']:>9.2f}  {r['trained_cost']:>8.2f}  "
            f"{r['trained_over_untrained']:>6.3f}  {_ratio(r['trained_over_best_heuristic']):>6}  "
            f"{t['energy_kwh']:>7.2f}  {t['slatah']:>7.4f}  {t['tasks_rejected']:>8.1f}  "
            f"{r['train_wall_s']:>7.0f}"
        )
    lines += [
        f"trained / untrained: {_interval(result['trained_over_untrained'])}",
        f"trained / {result['best_heuristic']}: {_interval(result['trained_over_best_heuristic'])}",
        "heuristics (cost, kWh): "
        + ", ".join(
            f"{k} {h['total_cost']:.2f} {h['energy_kwh']:.2f}"
            for k, h in result["heuristics"].items()
        ),
        f"wall {result['wall_s']:.0f} s, load average {result['loadavg_start']} at the start",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; a table, or one JSON line with --json; exit 2 on bad input."""
    from marl_alloc.bench.report import run_benchmark

    return run_benchmark(parse_args, run, argv, table=format_table)
