"""Dispatch `python -m marl_alloc.bench SUBCOMMAND ...` to the benchmark modules."""

import importlib
import sys

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.interrupts import run_main

SUBCOMMANDS = {
    "replay": "marl_alloc.bench.replay",
    "env": "marl_alloc.bench.env",
    "forecast-scan": "marl_alloc.forecasting.scan_bench",
    "serve": "marl_alloc.bench.serve",
    "decision": "marl_alloc.bench.decision",
    "durations": "marl_alloc.bench.durations",
    "pipeline": "marl_alloc.bench.pipeline",
    "recovery": "marl_alloc.bench.recovery",
    "learner": "marl_alloc.bench.learner",
    "learning": "marl_alloc.bench.learning",
    "replay-ablation": "marl_alloc.bench.replay_ablation",
    "forecast-value": "marl_alloc.bench.forecast_value",
}


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark; each prints one JSON line with `--json`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        names = ", ".join(sorted(SUBCOMMANDS))
        print(f"usage: python -m marl_alloc.bench {{{names}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[argv[0]])
    try:
        return int(module.main(argv[1:]) or 0)
    except UserError as err:  # the benchmarks that do not report their own
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run_main(main))
