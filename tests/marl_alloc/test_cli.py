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
