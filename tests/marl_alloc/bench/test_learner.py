"""The learner bench trains the real LearnerWorker from real rollouts and reports its rate."""

import json

import pytest
import torch

from marl_alloc.bench import learner


def test_learner_bench_times_both_update_paths_on_every_module(capsys):
    code = learner.main(
        ["--device", "cpu", "--updates", "3", "--warmup", "1", "--transitions", "1000", "--json"]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["device"] == "cpu"
    assert result["learner_path"] == "fused"
    assert set(result["modules"]) >= {"cluster", "rack", "leaf"}
    assert min(result["replay_size"].values()) >= 1000
    reference = result["reference"]
    assert reference["learner_path"] == "rllib_update"
    for timed in (result, reference):
        assert timed["updates"] == 3 and timed["updates_per_s"] > 0
        expected_rows = 3 * result["batch_per_module"] * len(result["modules"])
        assert timed["rows_per_s"] == pytest.approx(expected_rows / timed["seconds"])
        assert timed["cpu_ms_per_update"] > 0
    assert result["speedup"] == pytest.approx(result["updates_per_s"] / reference["updates_per_s"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_asking_for_cuda_without_a_gpu_is_one_line_and_exit_2(capsys):
    assert learner.main(["--device", "cuda", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --device cuda: no CUDA device is visible to torch"]
