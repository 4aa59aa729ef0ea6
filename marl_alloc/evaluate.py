"""`python -m marl_alloc.evaluate`: score a checkpoint or a heuristic; write OUT/metrics.json.

With a checkpoint, every heuristic baseline runs on the same workload and seeds, under `baselines`,
and OUT/comparison.png plots them side by side. With --task-events (a trace), one datacenter is
the whole cell: every machine a host, every task of the files arriving once at its own time, from
the recorded running state.

    python -m marl_alloc.evaluate --policy best-fit --workload google2011 \\
        --task-events task_events-part-00000-of-00500.csv.gz \\
        --machine-events machine_events-part-00000-of-00001.csv.gz --out eval/best-fit

writes OUT/metrics.json and OUT/timeline.png (utilization, power and SLA over time), shows each
policy's progress on stderr and ends with a table of the policies on stdout. Bad input (a
truncated gzip, a malformed row, a missing column) is one line naming file and row, exit 2;
--lenient reads every intact row and reports `input_rows_dropped`.
"""

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.errors import UserError, first_line
from marl_alloc.floor.interrupts import run_main
from marl_alloc.floor.settings import EnvConfig, Settings
from marl_alloc.floor.strict_json import write_json

TIMELINE_S = 60.0
# Overrides that would change a trained policy's input or output sizes.
SHAPING_KEYS = ("env.topology", "env.forecast_horizon")
PLOTTED = (("utilization", "CPU utilization"), ("power_kw", "power (kW)"), ("slatah", "SLATAH"))
# The comparison's columns: metric key, header, format.
COMPARED = (
    ("total_cost", "total cost", "{:.1f}"),
    ("energy_kwh", "energy kWh", "{:.1f}"),
    ("carbon_kg", "carbon kg", "{:.2f}"),
    ("sla_violation_rate", "SLA viol.", "{:.4f}"),
    ("tasks_rejected", "rejected", "{:d}"),
    ("decision_latency_ms_p99", "p99 ms", "{:.2f}"),
)


def build_parser(prog: str = "python -m marl_alloc.evaluate") -> argparse.ArgumentParser:
    """Command-line options of the evaluate command."""
    parser = CommandParser(prog=prog, description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="an RLlib checkpoint dir written by marl_alloc.train")
    source.add_argument(
        "--policy",
        help="a heuristic: random, round-robin, first-fit, best-fit, ...; NAME@T packs CPU "
        "requests to T x capacity (best-fit@1.5)",
    )
    parser.add_argument("--workload", default="synthetic", help="an env config (conf/env/NAME)")
    parser.add_argument("--task-events", nargs="+", help="trace files: replay the whole cell")
    parser.add_argument("--machine-events", help="google2011: the machine_events file")
    parser.add_argument("--max-tasks", type=int, default=None, help="stop after N arrivals")
    parser.add_argument("--lenient", action="store_true", help="skip bad trace rows, count them")
    parser.add_argument("--episodes", type=int, default=3, help="(synthetic) episodes")
    parser.add_argument("--episode-tasks", type=int, default=None, help="tasks per episode")
    parser.add_argument("--seed", type=int, default=12345, help="first episode's seed")
    parser.add_argument("--out", default="eval", help="output directory")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env.max_defers=2")
    return parser


def _env_settings(
    args: argparse.Namespace, overrides: list[str], trained: Settings | None
) -> tuple[EnvConfig, Any]:
    """The env settings (and the loaded trace workload, or None) every policy of this run is
    scored in: a heuristic named alone gets the same as it gets as a checkpoint's baseline."""
    from marl_alloc.scoring import cell_env, for_trained, with_trace, workload_env

    env = workload_env(args.workload, overrides)
    if trained is not None:
        _require_trained_shape(env, trained.env, overrides)
        env = for_trained(env, trained.env)
    if not args.task_events:
        if args.machine_events:
            raise UserError("--machine-events goes with --task-events")
        return env, None
    if args.workload == "google2011" and not args.machine_events:
        raise UserError("--workload google2011 --task-events needs --machine-events F")
    env = with_trace(env, args.task_events, args.machine_events, "cell", args.lenient)
    return cell_env(env, args.max_tasks)


def _require_trained_shape(env: EnvConfig, trained: EnvConfig, overrides: list[str]) -> None:
    """A checkpoint's policy acts only in the topology and forecast slots it was trained for:
    an override asking for others is an error, not silently replaced by the trained ones."""
    asked = [o for o in overrides if o.lstrip("+~").startswith(SHAPING_KEYS)]
    if asked and (env.topology, env.forecast_horizon) != (
        trained.topology,
        trained.forecast_horizon,
    ):
        topology = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(trained.topology).items())
        raise UserError(
            f"{' '.join(asked)}: the checkpoint's policy acts only in the env it was trained for"
            f" ({topology}, forecast_horizon={trained.forecast_horizon}); drop the override or"
            " train a policy for that env"
        )


def _figure(rows: int, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, 1, sharex=rows > 1)


def _plot_timeline(runs: dict[str, dict[str, Any]], out: Path) -> None:
    """timeline.png: utilization, power and SLATAH over simulated time, one line per policy."""
    fig, axes = _figure(len(PLOTTED), 7)
    for name, metrics in runs.items():
        series = metrics.get("timeline")
        if not series or not series["t_s"]:
            continue
        minutes = [(t - series["t_s"][0]) / 60.0 for t in series["t_s"]]
        for ax, (key, label) in zip(axes, PLOTTED, strict=True):
            ax.plot(minutes, series[key], label=name, linewidth=1)
            ax.set_ylabel(label)
    axes[-1].set_xlabel("simulated minutes")
    axes[0].legend(loc="upper right", fontsize="small")
    axes[0].set_title("per-minute means")
    # A fixed layout: tight_layout measures every text and costs more than the drawing.
    fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.08, hspace=0.12)
    fig.savefig(out / "timeline.png", dpi=80)


def _plot_comparison(runs: dict[str, dict[str, Any]], out: Path) -> None:
    """comparison.png: the policy and each baseline on the compared metrics, one bar each."""
    shown = COMPARED[:4]
    fig, axes = _figure(len(shown), 2.0 * len(shown))
    names = list(runs)
    colors = ["tab:orange" if name == "checkpoint" else "tab:gray" for name in names]
    for ax, (key, label, _) in zip(axes, shown, strict=True):
        ax.bar(names, [float(runs[name][key]) for name in names], color=colors)
        ax.set_ylabel(label)
    axes[0].set_title("the policy (orange) and the heuristics on the same episodes")
    axes[-1].tick_params(axis="x", labelrotation=30)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.12, hspace=0.15)
    fig.savefig(out / "comparison.png", dpi=80)


def comparison_table(runs: dict[str, dict[str, Any]]) -> str:
    """A fixed-width table of the runs, lowest total cost first."""
    header = ["policy", *(title for _, title, _ in COMPARED)]
    order = sorted(runs, key=lambda name: float(runs[name]["total_cost"]))
    rows = [[name, *(fmt.format(runs[name][key]) for key, _, fmt in COMPARED)] for name in order]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the evaluation the arguments describe and write its outputs."""
    from envs import HEURISTICS, make_heuristic
    from marl_alloc.floor.settings import to_plain
    from marl_alloc.scoring import score
    from marl_alloc.scoring.provenance import code_version

    started = time.perf_counter()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a directory (metrics.json goes in it)")
    if args.episodes <= 0:
        raise UserError("--episodes must be > 0")
    if args.max_tasks is not None and args.max_tasks <= 0:
        raise UserError("--max-tasks must be > 0")
    trained = None
    if args.checkpoint:
        from marl_alloc.policy.acting import load_acting_policy

        # A policy trained with a forecaster observes its forecasts here too.
        policy, trained = load_acting_policy(args.checkpoint)
    else:
        policy = make_heuristic(args.policy, seed=args.seed)
    overrides = list(args.overrides)
    tasks = args.episode_tasks if args.episode_tasks is not None else args.max_tasks
    if tasks is not None:
        overrides.append(f"env.episode_tasks={tasks}")
    env, workload = _env_settings(args, overrides, trained)
    # A trace's cell is its one window, replayed once.
    episodes = 1 if workload is not None else args.episodes

    name = "checkpoint" if args.checkpoint else args.policy
    queue = [(name, policy)]
    if args.checkpoint:
        queue += [(baseline, cls(seed=args.seed)) for baseline, cls in HEURISTICS.items()]
    runs: dict[str, dict[str, Any]] = {}
    for i, (label, p) in enumerate(queue, 1):
        print(f"[{i}/{len(queue)}] {label}: {episodes} episode(s) ...", file=sys.stderr, flush=True)
        run_start = time.perf_counter()
        runs[label] = score(p, env, episodes, args.seed, workload, TIMELINE_S)
        took = time.perf_counter() - run_start
        cost = runs[label]["total_cost"]
        print(f"      total cost {cost:.1f} ({took:.1f} s)", file=sys.stderr, flush=True)

    metrics = runs[name]
    metrics["policy"] = name
    metrics["workload"] = args.workload
    metrics["seed"] = args.seed
    metrics["settings"] = {"env": to_plain(env), "code_version": code_version()}
    if workload is not None:
        metrics["input_rows_dropped"] = int(workload.input_rows_dropped)
        metrics["tasks_waiting_at_start_skipped"] = int(workload.skipped_at_start)
        metrics["task_events"] = env.workload.tasks
        metrics["machine_events"] = env.workload.machines
    else:
        metrics["input_rows_dropped"] = 0
    if args.checkpoint:
        metrics["checkpoint"] = str(Path(args.checkpoint).resolve())
        metrics["baselines"] = {label: runs[label] for label in runs if label != name}
    metrics["wall_s"] = round(time.perf_counter() - started, 3)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {out}: cannot create it ({err.strerror or err})") from None
    write_json(out / "metrics.json", metrics)
    _plot_timeline(runs, out)
    if args.checkpoint:
        _plot_comparison(runs, out)
    return runs


def main(argv: list[str] | None = None, prog: str = "python -m marl_alloc.evaluate") -> int:
    """Parse arguments, evaluate, print the comparison and where metrics.json went; user errors
    exit 2."""
    args = build_parser(prog).parse_args(argv)
    try:
        runs = evaluate(args)
    except UserError as err:
        print(f"error: {first_line(err)}", file=sys.stderr)
        return 2
    print(comparison_table(runs))
    print(f"metrics: {(Path(args.out) / 'metrics.json').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
