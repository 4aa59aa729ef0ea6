"""The shared shell of the benchmark commands: parse, run, print one JSON line or a table; start
the fresh local Ray the Ray benchmarks measure on."""

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def run_benchmark(
    parse_args: Callable[[list[str]], argparse.Namespace],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    argv: list[str] | None,
) -> int:
    """Run one benchmark; bad options or config (any UserError) print one `error:` line and
    return 2."""
    from marl_alloc.floor.errors import UserError

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def start_local_ray(num_cpus: float) -> None:
    """A fresh local Ray with `num_cpus`, even when another cluster runs on this machine."""
    import ray

    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR")
