"""`python -m marl_alloc.benchmark`: score a set of checkpoints and every heuristic's packing
sweep on windows of a held-out trace at several loads; write OUT/report.json, OUT/report.md and
OUT/frontier.png.

    python -m marl_alloc.benchmark --workload google2011 \\
        --task-events DATA/task_events-part-00001-of-00500.csv.gz \\
        --machine-events DATA/machine_events-part-00000-of-00001.csv.gz \\
        --checkpoints runs/seed0/checkpoint runs/seed1/checkpoint runs/seed2/checkpoint \\
        --windows 6 --window-tasks 1000 --loads 0.8 1.2 --workers 2 --out bench/google

report.json holds per policy and metric the mean and 95% bootstrap interval over windows x
loads x seeds (`policies`), the checkpoints' total cost paired per window against the best
heuristic (`paired`), their SLATAH and energy reductions against that heuristic's frontier
(`frontier`) and the settings it ran with (`settings`). Each finished episode is kept under
OUT/episodes: the same command again skips them. Bad input is one line and exit 2.
"""

import argparse
import os
import sys
from pathlib import Path

from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.errors import UserError, first_line
from marl_alloc.floor.interrupts import run_main


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the benchmark command."""
    parser = CommandParser(
        prog="python -m marl_alloc.benchmark", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--checkpoints", nargs="+", default=[], metavar="DIR", help="training seeds of one run"
    )
    parser.add_argument(
        "--policies",
        nargs="+",
        default=None,
        metavar="SPEC",
        help="heuristics: NAME (default sweep), NAME@T or NAME@T1,T2,..; default: all",
    )
    parser.add_argument("--workload", default="google2011", help="an env config (conf/env/NAME)")
    parser.add_argument("--task-events", nargs="+", default=[], help="the held-out trace files")
    parser.add_argument("--machine-events", help="google2011: the machine_events file")
    parser.add_argument("--windows", type=int, default=6, help="windows over the trace")
    parser.add_argument("--window-tasks", type=int, default=1000, help="arrivals per window")
    parser.add_argument("--loads", nargs="+", type=float, default=[1.0], help="load factors")
    parser.add_argument("--seed", type=int, default=0, help="fixes windows and bootstrap")
    parser.add_argument(
        "--workers", type=int, default=len(os.sched_getaffinity(0)), help="worker processes"
    )
    parser.add_argument("--out", default="benchmark", help="output directory (resumable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. env.usage.sigma=0.4")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print where its report went; bad input exits 2 with one line."""
    from marl_alloc.scoring import CampaignSettings, run_campaign
    from marl_alloc.scoring.report import policy_table

    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        settings = CampaignSettings(
            workload=args.workload,
            task_events=tuple(args.task_events),
            machine_events=args.machine_events,
            checkpoints=tuple(args.checkpoints),
            policies=tuple(args.policies or ()),
            windows=args.windows,
            window_tasks=args.window_tasks,
            loads=tuple(args.loads),
            seed=args.seed,
            workers=args.workers,
            overrides=tuple(args.overrides),
            progress=not args.no_progress,
        )
        report = run_campaign(settings, out)
    except UserError as err:
        print(f"error: {first_line(err)}", file=sys.stderr)
        return 2
    print(policy_table(report["policies"]))
    if report["paired"] is not None:
        paired = report["paired"]
        lo, hi = paired["ci95"] or (float("nan"), float("nan"))
        print(
            f"paired total cost vs {paired['best_heuristic']}: {paired['mean_ratio']:.3f} "
            f"[{lo:.3f}, {hi:.3f}]"
        )
    print(f"report: {(out / 'report.md').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
