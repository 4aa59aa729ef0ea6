"""The learner bench trains the real LearnerWorker from real rollouts and reports its rate."""

import json

import pytest
import torch

from marl_alloc.bench import learner


@pytest.mark.slow
def test_learner_bench_times_both_update_paths_on_every_module(capsys):
    threads = torch.get_num_threads()
    try:
        code = learner.main(
            ["--device", "cpu", "--updates", "3", "--warmup", "1", "--transitions", "300"]
            + ["--threads", "2", "--rounds", "1", "--arithmetic-calls", "1", "--json"]
            + ["replay.min_size_to_sample=300"]
        )
    finally:
        torch.set_num_threads(threads)
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["device"] == "cpu"
    assert result["torch_threads"] == 2  # the timed updates' threads, not the fill's one
    assert result["learner_path"] == "fused"
    assert set(result["modules"]) >= {"cluster", "rack", "leaf"}
    assert min(result["replay_size"].values()) >= 300
    reference = result["reference"]
    assert reference["learner_path"] == "rllib_update"
    for timed in (result, reference):
        assert timed["updates"] == 3 and timed["updates_per_s"] > 0
        expected_rows = 3 * result["batch_per_module"] * len(result["modules"])
        assert timed["rows_per_s"] == pytest.approx(expected_rows / timed["seconds"])
        assert timed["cpu_ms_per_update"] > 0
    assert result["speedup"] == pytest.approx(result["updates_per_s"] / reference["updates_per_s"])
    arithmetic = result["arithmetic"]
    assert arithmetic["flops_per_update"] > 0
    assert arithmetic["achieved_gflops"] > 0 and arithmetic["matmul_peak_gflops"] > 0
    assert arithmetic["peak_fraction"] == pytest.approx(
        arithmetic["achieved_gflops"] / arithmetic["matmul_peak_gflops"]
    )


SMALL_FORECASTER = [
    "model.forecaster.net.lstm_hidden=8",
    "model.forecaster.net.d_model=8",
    "model.forecaster.net.d_state=4",
    "model.forecaster.net.fusion_dim=16",
    "model.forecaster.net.head_hidden=16",
]


@pytest.mark.slow
def test_learner_bench_times_the_update_with_the_forecaster_off_and_on(capsys):
    threads = torch.get_num_threads()
    try:
        code = learner.main(
            ["--device", "cpu", "--updates", "6", "--warmup", "0", "--transitions", "200"]
            + ["--rounds", "1", "--arithmetic-calls", "0", "--no-reference", "--forecaster"]
            + ["--heldout-rows", "40", "--json", "replay.min_size_to_sample=100"]
            + ["model.forecaster.train_every=3", "model.forecaster.train_batch_size=8"]
            + SMALL_FORECASTER
        )
    finally:
        torch.set_num_threads(threads)
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "forecaster" not in result["modules"] and result["replay_size"]["forecaster"] >= 100
    figures = result["forecaster"]
    assert (figures["train_every"], figures["train_batch_size"]) == (3, 8)
    assert figures["off"]["updates"] == result["updates"] == 6
    # One forecaster step per 3 policy updates, 8 rows each; its CPU time is taken off the
    # policy update's.
    assert figures["steps"] == 2 and figures["rows_trained"] == 16
    assert figures["rows_per_update"] == pytest.approx(16 / 6)
    assert figures["rows_per_s"] == pytest.approx(16 / result["seconds"])
    assert figures["step_cpu_ms"] > 0
    assert figures["policy_cpu_ms_per_update"] == pytest.approx(
        result["cpu_ms_per_update"] - 2 * figures["step_cpu_ms"] / 6
    )
    assert figures["policy_cpu_ratio"] == pytest.approx(
        figures["policy_cpu_ms_per_update"] / figures["off"]["cpu_ms_per_update"]
    )
    held_out = figures["held_out"]
    assert held_out["rows"] >= 40 and held_out["steps_trained"] == 2
    assert held_out["mae"] > 0 and held_out["mae_untrained"] > 0 and held_out["persistence_mae"] > 0


def test_a_bad_forecaster_cadence_is_one_line_and_exit_2(capsys):
    assert learner.main(["--forecaster", "model.forecaster.train_every=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.forecaster.train_every must be > 0" in err[0]


def test_the_update_flops_are_its_matmuls_forward_and_backward():
    from learners.learner_worker import LearnerWorker
    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.bench.arithmetic import update_flops
    from marl_alloc.floor import columns as C
    from marl_alloc.floor.settings.compose import compose_settings

    settings = compose_settings(
        ["model.policy.encoder=mlp", "model.policy.hidden_sizes=[8]", "model.mixer.kind=none"]
    )
    learner = LearnerWorker(build_apex_config(settings), []).learner
    rows, dims = 4, {}
    batch = {}
    for level in ("cluster", "rack", "leaf"):
        module = learner.module[level].unwrapped()
        obs_dim = module.observation_space["obs"].shape[0]
        actions = module.action_space.n
        dims[level] = (obs_dim, actions)
        batch[level] = {
            C.OBS: torch.randn(rows, obs_dim),
            C.ACTION_MASK: torch.ones(rows, actions, dtype=torch.bool),
            C.ACTIONS: torch.zeros(rows, dtype=torch.int64),
            C.REWARDS: torch.zeros(rows),
            C.NEXT_OBS: torch.randn(rows, obs_dim),
            C.NEXT_ACTION_MASK: torch.ones(rows, actions, dtype=torch.bool),
            C.DISCOUNTS: torch.ones(rows),
            C.WEIGHTS: torch.ones(rows),
        }
    # Per level: the torso (obs -> 8), advantage (8 -> A) and value (8 -> 1) layers, 2 * rows
    # * in * out FLOPs each, run by the online net with gradients (forward, and backward's
    # weight and input gradients, the first layer's input gradient skipped) and by the online
    # and target nets on the next observations.
    expected = 0
    for obs_dim, actions in dims.values():
        layers = [(obs_dim, 8), (8, actions), (8, 1)]
        forward = sum(2 * rows * i * o for i, o in layers)
        backward = 2 * forward - 2 * rows * obs_dim * 8
        expected += 3 * forward + backward
    assert update_flops(learner, batch) == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_asking_for_cuda_without_a_gpu_is_one_line_and_exit_2(capsys):
    assert learner.main(["--device", "cuda", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --device cuda: no CUDA device is visible to torch"]
