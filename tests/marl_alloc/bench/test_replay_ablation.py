"""Replay ablation bench: target and steps-to-target on synthetic curves, the evaluation schedule,
uniform replay at alpha=0, and one tiny real run of all three modes."""

import json

import numpy as np
import pytest

from marl_alloc.bench import held_out, replay_ablation
from marl_alloc.bench.replay_ablation import (
    CurveRecorder,
    fraction_target,
    mean_curve,
    median_steps,
    speedup,
    steps_to_target,
    summarize,
)
from marl_alloc.floor import columns as C
from replay.prioritized_buffer import PrioritizedBuffer
from tests.marl_alloc.tiny_run import TINY_RUN

FAST = [(0, -50.0), (1000, -30.0), (2000, -20.0), (3000, -21.0)]
SLOW = [(0, -50.0), (1000, -45.0), (2000, -35.0), (3000, -22.0)]
NEVER = [(0, -50.0), (1000, -49.0), (2000, -48.0), (3000, -47.0)]


def test_steps_to_target_is_the_first_evaluation_after_step_0_that_reaches_it():
    assert steps_to_target(FAST, -25.0) == 2000
    assert steps_to_target(SLOW, -25.0) == 3000
    assert steps_to_target(NEVER, -25.0) is None
    # An untrained policy already above the target does not count as reaching it.
    assert steps_to_target([(0, -10.0), (1000, -40.0), (2000, -12.0)], -20.0) == 2000


def test_fraction_target_uses_the_mean_untrained_return_and_the_best_mean_curve():
    curves = {"dual": [FAST, FAST], "uniform": [SLOW, NEVER]}
    found = fraction_target(curves, 0.8)
    assert found["untrained_return"] == -50.0
    assert found["best_return"] == -20.0 and found["best_mode"] == "dual"
    assert found["target"] == pytest.approx(-50.0 + 0.8 * 30.0)
    assert "0.8" in found["rule"]


def test_mean_curve_averages_the_kth_evaluations_and_cuts_to_the_shortest():
    assert mean_curve([FAST, SLOW[:2]]) == [(0, -50.0), (1000, -37.5)]


def test_median_steps_counts_runs_that_never_reached_the_target_as_slowest():
    assert median_steps([1000, 3000, None]) == 3000.0
    assert median_steps([1000, None, None]) is None
    assert median_steps([1000, 2000]) == 1500.0


def test_speedup_is_other_over_dual_or_a_lower_bound_when_only_dual_reaches():
    assert speedup(1000.0, 3200.0, 10_000) == {"ratio": 3.2, "lower_bound": False}
    assert speedup(2000.0, None, 10_000) == {"ratio": 5.0, "lower_bound": True}
    assert speedup(None, 1000.0, 10_000) == {"ratio": None, "lower_bound": False}


def test_summarize_reports_steps_per_seed_medians_finals_and_speedups():
    runs = {
        "dual": [{"seed": 0, "curve": FAST}, {"seed": 1, "curve": FAST}],
        "td": [{"seed": 0, "curve": SLOW}, {"seed": 1, "curve": SLOW}],
        "uniform": [{"seed": 0, "curve": SLOW}, {"seed": 1, "curve": NEVER}],
    }
    out = summarize(runs, {"target": -25.0}, budget=3000)
    dual, uniform = out["modes"]["dual"], out["modes"]["uniform"]
    assert [r["steps_to_target"] for r in dual["runs"]] == [2000, 2000]
    assert [r["steps_to_target"] for r in uniform["runs"]] == [3000, None]
    assert uniform["median_steps_to_target"] is None and uniform["reached"] == 1
    assert dual["final_return_median"] == -21.0
    assert dual["mean_return_median"] == pytest.approx((-30.0 - 20.0 - 21.0) / 3)
    assert out["speedup"]["dual_vs_td"] == {"ratio": 1.5, "lower_bound": False}
    assert out["speedup"]["dual_vs_uniform"] == {"ratio": 1.5, "lower_bound": True}


class _CountingEvaluation:
    def __init__(self):
        self.calls = 0

    def mean_cost(self, policy) -> float:
        self.calls += 1
        return 10.0 * self.calls


def test_curve_recorder_evaluates_at_start_every_k_steps_and_at_the_budget(monkeypatch):
    monkeypatch.setattr(held_out, "current_policy", lambda algo: None)
    recorder = CurveRecorder(_CountingEvaluation(), every=1000, budget=3500)
    for steps in (0, 400, 900, 1300, 1700, 2600, 3100, 3550):
        recorder(steps, algo=None)
    # 3550: the budget is spent, though the next multiple of 1000 is 4000.
    assert [s for s, _ in recorder.curve] == [0, 1300, 2600, 3100, 3550]
    assert [v for _, v in recorder.curve] == [-10.0, -20.0, -30.0, -40.0, -50.0]


def test_alpha_0_samples_uniformly_with_unit_importance_weights():
    buffer = PrioritizedBuffer(1000, alpha=0.0, eta=0.5, compress=False)
    rng = np.random.default_rng(0)
    td = np.concatenate([np.zeros(500), np.full(500, 100.0)])  # very unequal priorities
    buffer.add({"x": np.arange(1000, dtype=np.float32)}, td, rng.random(1000))
    counts = np.zeros(1000)
    for _ in range(200):
        batch = buffer.sample(128, beta=0.4, rng=rng)
        assert (batch[C.WEIGHTS] == 1.0).all()
        counts += np.bincount(batch[C.INDICES], minlength=1000)
    assert counts[:500].sum() / counts.sum() == pytest.approx(0.5, abs=0.02)


def test_held_out_episodes_are_the_same_on_every_call():
    from envs.heuristics import HEURISTICS
    from marl_alloc.floor.settings.compose import compose_settings

    env = compose_settings([]).env
    evaluation = held_out.HeldOutEpisodes(env, episodes=3, tasks=40, seed=5)
    first = evaluation.mean_cost(HEURISTICS["best-fit"](seed=0))
    assert first > 0 and first == evaluation.mean_cost(HEURISTICS["best-fit"](seed=0))


@pytest.mark.ray
def test_a_tiny_ablation_reports_every_mode(ray_session, tmp_path, capsys):
    argv = [
        "--seeds", "0",
        "--env-steps", "800",
        "--eval-every", "400",
        "--eval-episodes", "2",
        "--eval-tasks", "30",
        "--json",
        "--out", str(tmp_path),
        *TINY_RUN,
    ]  # fmt: skip
    assert replay_ablation.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["modes"]) == {"dual", "td", "uniform"}
    assert {"target", "rule", "speedup", "heuristic_returns"} <= set(result)
    starts = set()
    for summary in result["modes"].values():
        (run,) = summary["runs"]
        steps = [s for s, _ in run["curve"]]
        assert steps[0] == 0 and steps[-1] >= 800 and steps == sorted(steps)
        assert run["steps_to_target"] is None or run["steps_to_target"] in steps
        starts.add(run["curve"][0][1])
    # Same seed, same initial weights: the modes differ only once replay sampling does.
    assert len(starts) == 1
    assert (tmp_path / "replay_ablation.png").is_file()
    assert (tmp_path / "replay_ablation.json").is_file()
