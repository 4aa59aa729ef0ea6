"""Which code produced a score: recorded in every report and in every kept episode's key."""

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version

from marl_alloc.floor.paths import PROJECT_ROOT


@functools.cache
def code_version() -> str:
    """The git commit of the project (`-dirty` with uncommitted changes), or the installed
    package's version outside a git checkout."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        described = None
    if described is not None and described.returncode == 0 and described.stdout.strip():
        return described.stdout.strip()
    try:
        return f"marl-alloc {version('marl-alloc')}"
    except PackageNotFoundError:
        return "unknown"
