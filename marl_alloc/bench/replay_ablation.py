"""`python -m marl_alloc.bench replay-ablation`: env steps to a target return with dual replay
priority (|td| + eta * attention), TD-only (`replay.eta=0`) and uniform replay (`replay.alpha=0`).

Every mode trains the same seeds for the same env-step budget with the same config: by default
the quick synthetic setup in one process (`training.local=true`, so the updates per env step do
not depend on how busy the machine is) at the replay ratio of the default Ray run. Every
`--eval-every` env steps the current weights act greedily on fixed held-out synthetic episodes
(HeldOutEpisodes); the return is minus the configured total cost per episode. The actors'
reward_mean is not used: training envs are continuing, so it follows their drifting load and
mixes in each actor's exploration.

The target comes from the data by a rule fixed in advance (`--target-fraction`, default 0.8):
untrained + 0.8 * (best - untrained), where untrained is the mean step-0 return of all runs and
best the highest point of any mode's seed-averaged curve. `--target` sets a return, or names a
heuristic whose return on the same episodes is the target. Steps to target: the first evaluation
after training starts whose return reaches it (null when none within the budget).

    python -m marl_alloc.bench replay-ablation --seeds 0 1 2 --env-steps 60000 --out ablation/
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from marl_alloc.bench.episode_seeds import VALIDATION_EVAL_SEED, refuse_test_episodes
from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.settings import Settings
from marl_alloc.floor.strict_json import write_json

MODES: dict[str, tuple[str, ...]] = {
    "dual": (),
    "td": ("replay.eta=0",),
    "uniform": ("replay.alpha=0",),
}
# 16 updates of 128 rows per level a round, against ~1,536 transitions a round (2 actors x 16
# envs x 16 cycles x 3 levels), replay ~4 samples per insert: the ratio the Ray pipeline's rate
# limit (replay.samples_per_insert) holds in the default run; local mode's default is half that.
BASE_OVERRIDES = (
    "training.local=true",
    "training.checkpoint_every_s=0",
    "training.updates_per_round=16",
)
Curve = list[tuple[int, float]]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench replay-ablation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--env-steps", type=int, default=60_000, help="budget per run")
    parser.add_argument("--eval-every", type=int, default=5_000, help="env steps between evals")
    parser.add_argument("--eval-episodes", type=int, default=16, help="held-out episodes")
    parser.add_argument("--eval-tasks", type=int, default=300, help="tasks per episode")
    parser.add_argument(
        "--eval-seed", type=int, default=VALIDATION_EVAL_SEED, help="validation episodes' seed"
    )
    parser.add_argument(
        "--target", help="a return, or a heuristic (best-fit, ...) whose return is the target"
    )
    parser.add_argument("--target-fraction", type=float, default=0.8)
    parser.add_argument("--num-cpus", type=int, default=2, help="local Ray CPUs")
    parser.add_argument("--out", help="dir for replay_ablation.json/.png and the runs")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args(argv)
    if args.env_steps < 1 or args.eval_every < 1 or args.eval_episodes < 1 or args.eval_tasks < 1:
        parser.error("--env-steps, --eval-every, --eval-episodes and --eval-tasks must be > 0")
    if not 0.0 < args.target_fraction <= 1.0:
        parser.error("--target-fraction must be in (0, 1]")
    refuse_test_episodes(parser, args.eval_seed)
    if args.target is not None and not _is_target(args.target):
        parser.error(
            f"--target {args.target}: not a number nor a heuristic ({', '.join(_names())})"
        )
    return args


def _names() -> list[str]:
    from envs.heuristics import HEURISTICS

    return list(HEURISTICS)


def _is_target(spec: str) -> bool:
    try:
        float(spec)
    except ValueError:
        return spec in _names()
    return True


# ---- analysis: pure functions of the curves -----------------------------------------------


def steps_to_target(curve: Curve, target: float) -> int | None:
    """Env steps of the first evaluation after training starts whose return reaches `target`."""
    return next((steps for steps, value in curve if steps > 0 and value >= target), None)


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """Point-wise mean over seeds (the k-th evaluations together), cut to the shortest curve."""
    length = min(len(c) for c in curves)
    return [
        (
            round(statistics.fmean(c[k][0] for c in curves)),
            statistics.fmean(c[k][1] for c in curves),
        )
        for k in range(length)
    ]


def fraction_target(curves: Mapping[str, Sequence[Curve]], fraction: float) -> dict[str, Any]:
    """untrained + fraction * (best - untrained): untrained the mean step-0 return of all runs,
    best the highest point of any mode's seed-averaged curve."""
    untrained = statistics.fmean(c[0][1] for runs in curves.values() for c in runs)
    best_mode, best = max(
        ((mode, max(v for _, v in mean_curve(runs))) for mode, runs in curves.items()),
        key=lambda item: item[1],
    )
    return {
        "target": untrained + fraction * (best - untrained),
        "rule": (
            f"untrained + {fraction:g} * (best - untrained); untrained = mean step-0 return of "
            "all runs, best = highest point of any mode's seed-averaged curve"
        ),
        "untrained_return": untrained,
        "best_return": best,
        "best_mode": best_mode,
    }


def median_steps(steps: Sequence[int | None]) -> float | None:
    """Median env steps to target, runs that never reached it counted as infinitely slow."""
    value = statistics.median(math.inf if s is None else s for s in steps)
    return None if math.isinf(value) else float(value)


def speedup(dual: float | None, other: float | None, budget: int) -> dict[str, Any]:
    """How many times fewer env steps dual needs than `other` (median over seeds); when only
    dual reaches the target, `budget / dual` is a lower bound."""
    if dual is None:
        return {"ratio": None, "lower_bound": False}
    if other is None:
        return {"ratio": round(budget / max(dual, 1.0), 2), "lower_bound": True}
    return {"ratio": round(other / max(dual, 1.0), 2), "lower_bound": False}


def mean_return(curve: Curve) -> float:
    """Mean return over the evaluations after step 0: the area under the learning curve per
    evaluation, a convergence figure that one lucky evaluation does not decide."""
    return statistics.fmean(value for steps, value in curve if steps > 0)


def summarize(
    runs: Mapping[str, Sequence[dict[str, Any]]], target: dict[str, Any], budget: int
) -> dict[str, Any]:
    """Per mode: steps to target per seed, their median, final and mean returns; dual's
    speed-ups."""
    modes: dict[str, Any] = {}
    for mode, mode_runs in runs.items():
        steps = [steps_to_target(r["curve"], target["target"]) for r in mode_runs]
        finals = [r["curve"][-1][1] for r in mode_runs]
        means = [mean_return(r["curve"]) for r in mode_runs]
        modes[mode] = {
            "overrides": list(MODES[mode]),
            "runs": [{**r, "steps_to_target": s} for r, s in zip(mode_runs, steps, strict=True)],
            "median_steps_to_target": median_steps(steps),
            "reached": sum(s is not None for s in steps),
            "final_return_median": statistics.median(finals),
            "final_return_mean": statistics.fmean(finals),
            "mean_return_median": statistics.median(means),
            "mean_curve": mean_curve([r["curve"] for r in mode_runs]),
        }
    out: dict[str, Any] = {"modes": modes, "speedup": {}}
    if "dual" in modes:
        dual = modes["dual"]["median_steps_to_target"]
        for other in (m for m in modes if m != "dual"):
            out["speedup"][f"dual_vs_{other}"] = speedup(
                dual, modes[other]["median_steps_to_target"], budget
            )
    return out


# ---- the runs -----------------------------------------------------------------------------


class CurveRecorder:
    """A train.RoundHook: evaluates the current weights at step 0, every `every` env steps and
    once the budget is spent; keeps (env_steps, return) points."""

    def __init__(self, evaluation, every: int, budget: int):
        self.evaluation, self.every, self.budget = evaluation, every, budget
        self.next_at = 0
        self.curve: Curve = []

    def __call__(self, env_steps: int, algo: Any) -> None:
        """Evaluate when an evaluation is due."""
        from marl_alloc.bench.held_out import current_policy

        if env_steps < self.next_at and env_steps < self.budget:
            return
        value = -self.evaluation.mean_cost(current_policy(algo))
        self.curve.append((int(env_steps), round(value, 4)))
        self.next_at = (env_steps // self.every + 1) * self.every


def run_settings(overrides: Sequence[str], mode: str, seed: int, budget: int) -> Settings:
    """One run's config: the shared base and overrides, then the mode's, seed and budget."""
    from marl_alloc.floor.settings.compose import compose_settings

    return compose_settings(
        [
            *BASE_OVERRIDES,
            *overrides,
            *MODES[mode],
            f"seed={seed}",
            f"training.total_env_steps={budget}",
        ]
    )


def train_one(
    args: argparse.Namespace, mode: str, seed: int, evaluation, run_dir: Path
) -> dict[str, Any]:
    """Train one (mode, seed) run, evaluating as it goes; its curve and wall time."""
    from marl_alloc.train import run_training

    settings = run_settings(args.overrides, mode, seed, args.env_steps)
    recorder = CurveRecorder(evaluation, args.eval_every, args.env_steps)
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    run_training(settings, run_dir, on_round=recorder)
    return {"seed": seed, "curve": recorder.curve, "wall_s": round(time.monotonic() - start, 1)}


def heuristic_returns(evaluation) -> dict[str, float]:
    """Every heuristic baseline's return on the held-out episodes."""
    from envs.heuristics import HEURISTICS

    return {name: round(-evaluation.mean_cost(cls(seed=0)), 4) for name, cls in HEURISTICS.items()}


def choose_target(
    spec: str | None,
    curves: Mapping[str, Sequence[Curve]],
    fraction: float,
    references: Mapping[str, float],
) -> dict[str, Any]:
    """The target from `--target` (a return or a heuristic's name) or the fraction rule."""
    found = fraction_target(curves, fraction)
    if spec is None:
        return found
    if spec in references:
        return {**found, "target": references[spec], "rule": f"the {spec} heuristic's return"}
    return {**found, "target": float(spec), "rule": "given with --target"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train every mode on every seed, then find the target and the steps to reach it."""
    import ray

    from marl_alloc.bench.held_out import HeldOutEpisodes
    from marl_alloc.bench.report import start_local_ray

    env_settings = run_settings(args.overrides, "dual", args.seeds[0], args.env_steps).env
    evaluation = HeldOutEpisodes(env_settings, args.eval_episodes, args.eval_tasks, args.eval_seed)
    references = heuristic_returns(evaluation)
    load_start = os.getloadavg()
    started_ray = not ray.is_initialized()
    if started_ray:
        start_local_ray(args.num_cpus)
    start = time.monotonic()
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in args.modes}
    with tempfile.TemporaryDirectory(prefix="replay-ablation-") as scratch:
        runs_dir = Path(args.out) / "runs" if args.out else Path(scratch)
        try:
            # Seed-major, so a cut-short ablation still has every mode on the first seeds.
            for seed in args.seeds:
                for mode in args.modes:
                    run_dir = runs_dir / f"{mode}-seed{seed}"
                    runs[mode].append(train_one(args, mode, seed, evaluation, run_dir))
                    print(f"{mode} seed {seed}: {runs[mode][-1]['curve']}", file=sys.stderr)
        finally:
            if started_ray:
                ray.shutdown()
    curves = {mode: [r["curve"] for r in mode_runs] for mode, mode_runs in runs.items()}
    target = choose_target(args.target, curves, args.target_fraction, references)
    result = {
        "bench": "replay-ablation",
        "measure": "return = -total_cost per held-out episode, greedy policy (higher is better)",
        "seeds": args.seeds,
        "env_steps_budget": args.env_steps,
        "eval": {
            "every_env_steps": args.eval_every,
            "episodes": args.eval_episodes,
            "tasks_per_episode": args.eval_tasks,
            "seed": args.eval_seed,
        },
        "overrides": [*BASE_OVERRIDES, *args.overrides],
        **target,
        "heuristic_returns": references,
        **summarize(runs, target, args.env_steps),
        "wall_s": round(time.monotonic() - start, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    if args.out:
        write_outputs(result, Path(args.out))
    return result


# ---- output -------------------------------------------------------------------------------


def write_outputs(result: dict[str, Any], out: Path) -> None:
    """OUT/replay_ablation.json and OUT/replay_ablation.png (curves per mode, the target)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "replay_ablation.json", result)
    fig, ax = plt.subplots(figsize=(8, 5))
    for (mode, summary), color in zip(result["modes"].items(), ("C0", "C1", "C2"), strict=False):
        for r in summary["runs"]:
            steps, values = zip(*r["curve"], strict=True)
            ax.plot(steps, values, color=color, alpha=0.25, linewidth=1)
        steps, values = zip(*summary["mean_curve"], strict=True)
        ax.plot(steps, values, color=color, linewidth=2, label=f"{mode} (mean of seeds)")
    ax.axhline(result["target"], color="k", linestyle="--", linewidth=1, label="target")
    best_name, best = max(result["heuristic_returns"].items(), key=lambda item: item[1])
    ax.axhline(
        best, color="grey", linestyle=":", linewidth=1, label=f"{best_name} (best heuristic)"
    )
    ax.set_xlabel("env steps")
    ax.set_ylabel("held-out return (-total cost per episode)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "replay_ablation.png", dpi=90)
    plt.close(fig)


def _steps(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_table(result: dict[str, Any]) -> str:
    """The result as a readable table."""
    seeds = " / ".join(str(s) for s in result["seeds"])
    lines = [
        f"replay ablation: {len(result['seeds'])} seeds x {result['env_steps_budget']:,} env "
        f"steps; eval every {result['eval']['every_env_steps']:,} on "
        f"{result['eval']['episodes']} held-out episodes x {result['eval']['tasks_per_episode']}"
        " tasks",
        f"target return {result['target']:.2f} ({result['rule']})",
        f"untrained {result['untrained_return']:.2f}, best {result['best_return']:.2f} "
        f"({result['best_mode']})",
        "",
        f"{'mode':<8}  {'steps to target (seed ' + seeds + ')':<34}  {'median':>7}  "
        f"{'final return (per seed)':<26}  {'median':>7}  {'mean return':>11}",
    ]
    for mode, summary in result["modes"].items():
        per_seed = " / ".join(_steps(r["steps_to_target"]) for r in summary["runs"])
        finals = " / ".join(f"{r['curve'][-1][1]:.1f}" for r in summary["runs"])
        lines.append(
            f"{mode:<8}  {per_seed:<34}  {_steps(summary['median_steps_to_target']):>7}  "
            f"{finals:<26}  {summary['final_return_median']:>7.2f}  "
            f"{summary['mean_return_median']:>11.2f}"
        )
    lines.append("")
    for name, s in result["speedup"].items():
        ratio = "-" if s["ratio"] is None else f"{'>=' if s['lower_bound'] else ''}{s['ratio']}x"
        lines.append(f"speed-up {name.replace('_', ' ')}: {ratio}")
    refs = ", ".join(f"{k} {v:.2f}" for k, v in result["heuristic_returns"].items())
    lines.append(f"heuristics: {refs}")
    lines.append(
        f"mean return: over the evaluations after step 0 (median of seeds); wall "
        f"{result['wall_s']:.0f} s, load average {result['loadavg_start']} at the start"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the ablation; a table, or one JSON line with --json; exit 2 on a bad option."""
    from marl_alloc.bench.report import run_benchmark

    return run_benchmark(parse_args, run, argv, table=format_table)
