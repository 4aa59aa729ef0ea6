"""CommandParser: the argparse parser of every marl-alloc command, whose usage errors are user
errors too (one line naming the fix, exit 2) instead of argparse's usage block."""

import argparse
import sys


class CommandParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose `error` prints one line and exits 2."""

    def error(self, message: str) -> None:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)
