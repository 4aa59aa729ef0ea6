"""The layers contract (pyproject.toml, [tool.importlinter]): imports run downhill only, from
entry points through orchestration and components to the floor, with no loop between packages.
A new uphill import fails here with the import that broke it."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)


def test_imports_run_downhill_and_never_in_a_loop():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = _run(str(lint_imports), "--no-cache", "--config", "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_floor_loads_neither_torch_nor_ray():
    code = (
        "import sys, marl_alloc.floor.columns, marl_alloc.floor.errors, marl_alloc.floor.levels,"
        " marl_alloc.floor.pipeline_metrics, marl_alloc.floor.settings;"
        " print('torch' in sys.modules, 'ray' in sys.modules)"
    )
    result = _run(sys.executable, "-c", code)
    assert result.stdout.split() == ["False", "False"], result.stderr
