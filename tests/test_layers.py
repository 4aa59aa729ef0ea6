"""The layers contract (pyproject.toml, [tool.importlinter]): imports run downhill only, from
entry points through orchestration and components to the floor, with no loop between packages.
A new uphill import fails here with the import that broke it."""

from importlinter.cli import lint_imports

from tests.conftest import PROJECT_ROOT


def test_imports_run_downhill_and_never_in_a_loop(monkeypatch, capsys):
    monkeypatch.chdir(PROJECT_ROOT)
    status = lint_imports(
        config_filename=str(PROJECT_ROOT / "pyproject.toml"), no_cache=True, no_logo=True
    )
    assert status == 0, capsys.readouterr().out


def test_the_floor_loads_neither_torch_nor_ray():
    import subprocess
    import sys

    code = (
        "import sys, marl_alloc.floor.columns, marl_alloc.floor.errors, marl_alloc.floor.levels,"
        " marl_alloc.floor.pipeline_metrics, marl_alloc.floor.settings;"
        " print('torch' in sys.modules, 'ray' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
    )
    assert out.stdout.split() == ["False", "False"], out.stderr
