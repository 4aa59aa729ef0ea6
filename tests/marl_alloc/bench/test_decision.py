"""`python -m marl_alloc.bench decision`: both acting paths measured on the default topology."""

import json

from marl_alloc.bench.decision import main


def test_decision_bench_reports_both_acting_paths(capsys):
    assert main(["--tasks", "60", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["hosts"] == 192 and figures["encoder"] == "gat"
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    eager = figures["forward_inference_ms"]
    assert 0 < eager["p50_ms"] <= eager["p99_ms"]


def test_decision_bench_bad_checkpoint_is_exit_2(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "none"), "--json"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
