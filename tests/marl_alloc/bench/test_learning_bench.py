"""Learning bench: it trains as the learning test does, never scores on the test's episodes, its
intervals over seeds cover the true mean, and one tiny real run reports every seed."""

import json

import numpy as np
import pytest

from marl_alloc.bench import episode_seeds, forecast_value, learning, replay_ablation
from tests.marl_alloc.test_learning import EVAL_SEED, TRAIN
from tests.marl_alloc.tiny_run import TINY_RUN


def test_the_bench_trains_with_the_learning_tests_settings():
    # Only the budget differs (--env-steps), and the bench writes no mid-run checkpoints.
    budget = [o for o in TRAIN if o.startswith("training.total_env_steps=")]
    assert set(TRAIN) - set(budget) <= set(learning.PROTOCOL)
    assert set(learning.PROTOCOL) - set(TRAIN) == {"training.checkpoint_every_s=0"}


@pytest.mark.parametrize("bench", [learning, replay_ablation, forecast_value])
def test_the_learning_tests_episodes_are_refused_by_every_bench_that_compares_settings(
    bench, capsys
):
    assert episode_seeds.TEST_EVAL_SEED == EVAL_SEED
    assert bench.parse_args([]).eval_seed != EVAL_SEED
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--eval-seed", str(EVAL_SEED)])
    assert exit_info.value.code == 2
    assert "test data" in capsys.readouterr().err


def test_the_95_interval_over_four_seeds_covers_the_true_mean_95_times_in_100():
    rng = np.random.default_rng(0)
    trials = 4000
    covered = 0
    for _ in range(trials):
        lo, hi = learning.seed_interval(rng.normal(0.8, 0.1, 4))["ci95"]
        covered += lo <= 0.8 <= hi
    assert covered / trials == pytest.approx(0.95, abs=0.012)


def test_a_seeds_ratios_are_its_mean_costs_and_keep_each_episode():
    untrained = np.array([100.0, 300.0])
    trained = {k: np.array([1.0, 3.0]) for k in learning.BREAKDOWN}
    trained["total_cost"] = np.array([90.0, 150.0])
    result = learning.seed_result(3, untrained, trained, best_heuristic=100.0, train_wall_s=1.0)
    assert result["trained_over_untrained"] == pytest.approx(120.0 / 200.0)
    assert result["trained_over_best_heuristic"] == pytest.approx(1.2)
    assert result["trained"]["energy_kwh"] == 2.0
    assert result["episode_costs"] == {"untrained": [100.0, 300.0], "trained": [90.0, 150.0]}


@pytest.mark.slow
def test_a_tiny_run_reports_every_seed_and_the_heuristics(tmp_path, capsys):
    argv = [
        "--seeds", "0", "1",
        "--env-steps", "600",
        "--episodes", "2",
        "--tasks", "20",
        "--heuristics", "pabfd", "best-fit",
        "--json",
        "--out", str(tmp_path),
        *TINY_RUN,
    ]  # fmt: skip
    assert learning.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["seed"] for r in result["runs"]] == [0, 1]
    assert set(result["heuristics"]) == {"pabfd", "best-fit"}
    best = min(h["total_cost"] for h in result["heuristics"].values())
    for run in result["runs"]:
        assert run["trained_over_untrained"] == pytest.approx(
            run["trained_cost"] / run["untrained_cost"]
        )
        assert run["trained_over_best_heuristic"] == pytest.approx(run["trained_cost"] / best)
        assert len(run["episode_costs"]["trained"]) == 2
    lo, hi = result["trained_over_untrained"]["ci95"]
    assert lo <= result["trained_over_untrained"]["mean"] <= hi
    assert result["validation"]["seed"] == 4242
    assert (tmp_path / "learning.json").is_file()
