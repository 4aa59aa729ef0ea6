"""`python -m marl_alloc.prepare`: turn raw traces into Parquet (zstd) tables for fast reuse.

    python -m marl_alloc.prepare --workload google2011 --input task_events-*.csv.gz \
        --machine-events machine_events-part-00000-of-00001.csv.gz --output data/google2011
    python -m marl_alloc.prepare --workload azure --input vmtable.csv --output data/azure

writes OUTPUT/tasks.parquet (and OUTPUT/machines.parquet, removed machines included with their
removal time); point `env.workload.tasks` (and `env.workload.machines`) at OUTPUT. Strict by
default: a bad row is a one-line error naming file and row (exit 2); --lenient skips bad rows
and reports how many.
"""

import argparse
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from envs.errors import WorkloadError
from envs.workloads import load_machines, load_tasks, load_vms
from envs.workloads.csv_input import rows_dropped
from envs.workloads.trace import MACHINES_FILE, TASKS_FILE
from marl_alloc.floor.command_line import CommandParser
from marl_alloc.floor.errors import UserError, first_line
from marl_alloc.floor.interrupts import run_main

WORKLOADS = ("google2011", "azure")


def build_parser(prog: str = "python -m marl_alloc.prepare") -> argparse.ArgumentParser:
    """Command-line options of the prepare command."""
    parser = CommandParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True, choices=WORKLOADS)
    parser.add_argument("--input", required=True, nargs="+", help="raw trace file(s)")
    parser.add_argument("--machine-events", help="google2011: machine_events csv.gz")
    parser.add_argument("--output", required=True, help="directory for the Parquet files")
    parser.add_argument("--seed", type=int, default=0, help="draws for unseen run times")
    parser.add_argument("--cores-per-host", type=float, default=64.0, help="azure: host cores")
    parser.add_argument("--mem-gb-per-host", type=float, default=256.0, help="azure: host GB")
    parser.add_argument("--lenient", action="store_true", help="skip bad rows, count them")
    return parser


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write zstd-compressed Parquet atomically (a crash leaves no half-written file)."""
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def prepare(args: argparse.Namespace) -> dict[str, tuple[int, int]]:
    """Read the raw files, write the tables; returns (rows written, input rows dropped) per
    file name."""
    if args.workload == "azure":
        if len(args.input) != 1 or args.machine_events:
            raise WorkloadError("azure reads exactly one vmtable file and no --machine-events")
        tasks = load_vms(args.input[0], args.cores_per_host, args.mem_gb_per_host, args.lenient)
        tables = {TASKS_FILE: tasks}
    else:
        tables = {TASKS_FILE: load_tasks(args.input, seed=args.seed, lenient=args.lenient)}
        if args.machine_events:
            tables[MACHINES_FILE] = load_machines(
                args.machine_events, lenient=args.lenient, include_removed=True
            )
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_parquet(table, out / name)
    return {name: (table.num_rows, rows_dropped(table)) for name, table in tables.items()}


def main(argv: list[str] | None = None, prog: str = "python -m marl_alloc.prepare") -> int:
    """Parse arguments and prepare; bad input exits 2 with one line."""
    args = build_parser(prog).parse_args(argv)
    try:
        written = prepare(args)
    except (UserError, OSError) as err:
        print(f"error: {first_line(err)}", file=sys.stderr)
        return 2
    for name, (rows, dropped) in written.items():
        skipped = f", {dropped} malformed input rows skipped" if dropped else ""
        print(f"wrote {Path(args.output) / name} ({rows} rows{skipped})")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
