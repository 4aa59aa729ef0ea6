import pytest

from marl_alloc.cli import marl_alloc_main, rllib_main


def test_rllib_help_lists_evaluate(capsys):
    assert rllib_main(["--help"]) == 0
    assert "evaluate" in capsys.readouterr().out


def test_marl_alloc_help_lists_commands(capsys):
    assert marl_alloc_main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "evaluate", "benchmark", "forecast", "prepare", "bench"):
        assert command in out


@pytest.mark.parametrize("main", [marl_alloc_main, rllib_main])
def test_unknown_command_exits_2(main, capsys):
    assert main(["no-such-command"]) == 2


def test_rllib_evaluate_missing_checkpoint_exits_2(tmp_path, capsys):
    assert rllib_main(["evaluate", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


# One bad input per entry point: each reports it on the same path (UserError or CommandParser),
# one line on stderr and exit 2.
BAD_INPUTS = {
    "train": ["training.lr=-1"],
    "evaluate": ["--checkpoint", "{tmp}/nope"],
    "benchmark": ["--windows", "0"],
    "forecast": ["evaluate", "--model", "{tmp}/nope", "--out", "{tmp}/out"],
    "prepare": ["--workload", "google2011", "--input", "{tmp}/nope.csv", "--output", "{tmp}/o"],
    "tune": ["tune.population_size=0"],
    "serve": ["--port", "99999"],
    "bench": ["recovery", "--runs", "0"],
}


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(BAD_INPUTS))
def test_every_entry_point_reports_a_bad_input_in_one_line_and_exit_2(command, tmp_path):
    import subprocess
    import sys

    argv = [arg.format(tmp=tmp_path) for arg in BAD_INPUTS[command]]
    result = subprocess.run(
        [sys.executable, "-m", f"marl_alloc.{command}", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
