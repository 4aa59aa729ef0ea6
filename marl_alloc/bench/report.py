"""The shared shell of the benchmark commands: parse, run, print one JSON line or a table; start
the fresh local Ray the Ray benchmarks measure on."""

import argparse
import sys
from collections.abc import Callable
from typing import Any


def run_benchmark(
    parse_args: Callable[[list[str]], argparse.Namespace],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    argv: list[str] | None,
    table: Callable[[dict[str, Any]], str] | None = None,
) -> int:
    """Run one benchmark; bad options or config (any UserError) print one `error:` line and
    return 2. Without --json, `table` (if given) formats the result, else indented JSON."""
    from marl_alloc.floor.errors import UserError
    from marl_alloc.floor.strict_json import dumps

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(dumps(result))
    else:
        print(table(result) if table else dumps(result, indent=2))
    return 0


def start_local_ray(num_cpus: float) -> None:
    """A fresh local Ray with `num_cpus`, even when another cluster runs on this machine."""
    import ray

    from marl_alloc.ray_start import fail_fast

    fail_fast()  # as every training run starts Ray
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR")
