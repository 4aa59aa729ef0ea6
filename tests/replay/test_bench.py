"""The shipped replay benchmark runs and prints one JSON line (tiny sizes: a smoke test)."""

import json

from marl_alloc.bench import replay as bench


def test_bench_prints_one_json_line(capsys):
    argv = ["--obs-dim", "8", "--batch", "16", "--capacity", "5000", "--transitions", "3000"]
    assert bench.main([*argv, "--sample-calls", "5", "--obs-kind", "env", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    assert result["add_per_s"] > 0 and result["sample_per_s"] > 0 and result["update_per_s"] > 0
    assert result["compression_ratio"] > 1 and result["bytes_per_transition"] > 0


def test_bad_config_override_is_exit_2(capsys):
    assert bench.main(["--transitions", "10", "--set", "chunk_size=0"]) == 2
    assert "chunk_size" in capsys.readouterr().err
