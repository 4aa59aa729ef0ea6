"""`python -m marl_alloc.evaluate`: score a checkpoint or a heuristic; write OUT/metrics.json.

With a checkpoint, every heuristic baseline runs on the same workload and seeds, under `baselines`.
With --task-events (a trace), one datacenter is the whole cell: every machine a host, every task
of the files arriving once at its own time, from the recorded running state.

    python -m marl_alloc.evaluate --policy best-fit --workload google2011 \\
        --task-events task_events-part-00000-of-00500.csv.gz \\
        --machine-events machine_events-part-00000-of-00001.csv.gz --out eval/best-fit

writes OUT/metrics.json and OUT/timeline.png (utilization, power and SLA over time). Bad input
(a truncated gzip, a malformed row, a missing column) is one line naming file and row, exit 2;
--lenient reads every intact row and reports `input_rows_dropped`.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from marl_alloc.floor.errors import UserError

TRACE_WORKLOADS = ("google2011", "azure")
TIMELINE_S = 60.0
PLOTTED = (("utilization", "CPU utilization"), ("power_kw", "power (kW)"), ("slatah", "SLATAH"))


def build_parser(prog: str = "python -m marl_alloc.evaluate") -> argparse.ArgumentParser:
    """Command-line options of the evaluate command."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="an RLlib checkpoint dir written by marl_alloc.train")
    source.add_argument(
        "--policy", help="a heuristic: random, round-robin, first-fit, best-fit, ..."
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


def _env_settings(workload: str, overrides: list[str], trained: dict | None) -> dict[str, Any]:
    from envs import EnvConfig
    from marl_alloc.compose import available_workloads, compose_settings

    if workload not in available_workloads():
        names = ", ".join(available_workloads())
        raise UserError(f"unknown workload '{workload}' (choose one of: {names})")
    env = compose_settings([f"env={workload}", *overrides])["env"]
    if trained is not None:
        # The policy's input sizes follow the topology it was trained on.
        env["topology"] = trained["env"]["topology"]
        env["forecast_horizon"] = trained["env"]["forecast_horizon"]
        # A policy trained with fewer (or no) deferrals never learned more: its defer action
        # stays masked as it was. The measuring window stays the workload's, whose default tail
        # would otherwise shrink with max_defers.
        env["episode_tail_s"] = EnvConfig.from_mapping(env).resolved_episode_tail_s
        env["max_defers"] = min(env["max_defers"], int(trained["env"]["max_defers"]))
    return env


def _trace_env(args: argparse.Namespace, env: dict[str, Any], trained: bool) -> Any:
    """Point the env settings at the trace's cell (sized to its machines); returns the loaded
    workload."""
    from envs import EnvConfig
    from envs.workloads import build_workload

    if args.workload not in TRACE_WORKLOADS:
        raise UserError(f"--task-events needs --workload {' or '.join(TRACE_WORKLOADS)}")
    if args.workload == "google2011" and not args.machine_events:
        raise UserError("--workload google2011 --task-events needs --machine-events F")
    workload = env["workload"]
    workload["tasks"] = [str(Path(p).resolve()) for p in args.task_events]
    workload["machines"] = str(Path(args.machine_events).resolve()) if args.machine_events else None
    workload.update(mode="cell", lenient=args.lenient)
    env["episode_tasks"] = args.max_tasks if args.max_tasks is not None else 2**62
    loaded = build_workload(EnvConfig.from_mapping(env).workload)
    if loaded.machines is not None:
        top = env["topology"]
        per_rack = top["leaves_per_rack"] * top["hosts_per_leaf"]
        machines = len(loaded.machines[0])
        if trained:
            # The trained agents see one cluster of the shape they know; add clusters.
            top["num_clusters"] = math.ceil(machines / (top["racks_per_cluster"] * per_rack))
        else:
            top.update(num_clusters=1, racks_per_cluster=math.ceil(machines / per_rack))
    return loaded


def _plot(runs: dict[str, dict[str, Any]], out: Path) -> None:
    """timeline.png: utilization, power and SLATAH over simulated time, one line per policy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 7))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(PLOTTED), 1, sharex=True)
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


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the evaluation the arguments describe and write its outputs."""
    from envs import HEURISTICS
    from marl_alloc.scoring import score

    started = time.perf_counter()
    if args.episodes <= 0:
        raise UserError("--episodes must be > 0")
    if args.max_tasks is not None and args.max_tasks <= 0:
        raise UserError("--max-tasks must be > 0")
    trained = None
    if args.checkpoint:
        from marl_alloc.checkpoints import load_policy
        from marl_alloc.policy.forecast_feed import module_policy

        module, trained = load_policy(args.checkpoint)
        # A policy trained with a forecaster observes its forecasts here too.
        policy = module_policy(module)
    elif args.policy in HEURISTICS:
        policy = HEURISTICS[args.policy](seed=args.seed)
    else:
        raise UserError(f"unknown policy '{args.policy}' (choose one of: {', '.join(HEURISTICS)})")
    overrides = list(args.overrides)
    tasks = args.episode_tasks if args.episode_tasks is not None else args.max_tasks
    if tasks is not None:
        overrides.append(f"env.episode_tasks={tasks}")
    env_settings = _env_settings(args.workload, overrides, trained)
    workload, episodes = None, args.episodes
    if args.task_events:
        workload = _trace_env(args, env_settings, trained is not None)
        episodes = 1  # the cell's window, replayed once
    elif args.machine_events:
        raise UserError("--machine-events goes with --task-events")

    def run(p) -> dict[str, Any]:
        return score(p, env_settings, episodes, args.seed, workload, TIMELINE_S)

    metrics = run(policy)
    metrics["policy"] = "checkpoint" if args.checkpoint else args.policy
    metrics["workload"] = args.workload
    metrics["seed"] = args.seed
    if workload is not None:
        metrics["input_rows_dropped"] = int(workload.input_rows_dropped)
        metrics["tasks_waiting_at_start_skipped"] = int(workload.skipped_at_start)
        metrics["task_events"] = env_settings["workload"]["tasks"]
        metrics["machine_events"] = env_settings["workload"]["machines"]
    else:
        metrics["input_rows_dropped"] = 0
    if args.checkpoint:
        metrics["checkpoint"] = str(Path(args.checkpoint).resolve())
        metrics["baselines"] = {name: run(cls(seed=args.seed)) for name, cls in HEURISTICS.items()}
    metrics["wall_s"] = round(time.perf_counter() - started, 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _plot({metrics["policy"]: metrics, **metrics.get("baselines", {})}, out)
    return metrics


def main(argv: list[str] | None = None, prog: str = "python -m marl_alloc.evaluate") -> int:
    """Parse arguments, evaluate, print where metrics.json went; user errors exit 2."""
    from envs.errors import EnvConfigError, WorkloadError

    args = build_parser(prog).parse_args(argv)
    try:
        evaluate(args)
    except (UserError, EnvConfigError, WorkloadError) as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"metrics: {(Path(args.out) / 'metrics.json').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
