"""Ctrl-C and SIGTERM: an entry point stops with one line, never a KeyboardInterrupt traceback.

`run_main(main)` is every entry point's `__main__`: SIGTERM (a pod, systemd, `kill`) stops it as
Ctrl-C does, the first signal unwinds through the entry point's cleanup (its `finally`s), a
second one exits at once, and either way the process ends with one line on stderr and exit
128 + the signal's number.
"""

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, _frame: FrameType | None) -> None:
    # While the first signal unwinds, a second one means: out now, without cleanup.
    signal.signal(signal.SIGINT, _exit_now)
    signal.signal(signal.SIGTERM, _exit_now)
    raise Interrupted(signum)


def _exit_now(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    print(f"interrupted again ({name}): exiting without cleanup", file=sys.stderr, flush=True)
    os._exit(128 + signum)


def stop_on_signals() -> None:
    """SIGINT and SIGTERM raise Interrupted in the main thread (a second one exits at once)."""
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process a signal stopped."""
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


def signal_name(interrupt: KeyboardInterrupt) -> str:
    """SIGINT or SIGTERM: what stopped the command."""
    return signal.Signals(getattr(interrupt, "signum", signal.SIGINT)).name


def run_main(main: Callable[[], int | None]) -> int:
    """Run an entry point's `main()` under `stop_on_signals`; its exit code, or one line and
    128 + signal when a signal stopped it."""
    stop_on_signals()
    try:
        code = main()
    except KeyboardInterrupt as interrupt:
        print(f"interrupted ({signal_name(interrupt)}): stopped", file=sys.stderr, flush=True)
        return exit_code(interrupt)
    return 0 if code is None else code
