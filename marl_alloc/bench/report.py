"""The shared shell of every benchmark command: parse, run, print one JSON line or a table."""

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def run_benchmark(
    parse_args: Callable[[list[str]], argparse.Namespace],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    argv: list[str] | None,
    errors: tuple[type[Exception], ...] = (),
) -> int:
    """Run one benchmark; bad options or config print one `error:` line and return 2."""
    from marl_alloc.settings import UserError

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = run(args)
    except (UserError, *errors) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0
