"""The report's statistics on hand-made scores: best heuristic, paired ratio, frontier."""

import numpy as np
import pytest

from marl_alloc.scoring.summary import METRICS, best_heuristic, frontier_sweep, summarize


def scores_of(members: int, **metrics) -> dict[str, np.ndarray]:
    """[members, windows=3, loads=2] scores; unnamed metrics are ones."""
    shape = (members, 3, 2)
    out = {name: np.ones(shape) for name in METRICS}
    for name, value in metrics.items():
        out[name] = np.broadcast_to(np.asarray(value, np.float64), shape).copy()
    return out


def test_the_paired_ratio_is_per_window_and_load():
    windows = np.array([[100.0, 200.0], [300.0, 400.0], [500.0, 600.0]])
    scores = {
        "pabfd@1": scores_of(1, total_cost=windows),
        "pabfd@2": scores_of(1, total_cost=windows * 1.1),
        "best-fit@1": scores_of(1, total_cost=windows * 1.2),
        # Two seeds: one 10% and one 30% cheaper than pabfd@1 on every window.
        "policy": scores_of(2, total_cost=np.stack([windows * 0.9, windows * 0.7])),
    }
    assert best_heuristic(scores) == "pabfd@1"
    report = summarize(scores, np.random.default_rng(0), reps=500)
    paired = report["paired"]
    assert paired["best_heuristic"] == "pabfd@1"
    assert paired["mean_ratio"] == pytest.approx(0.8)
    assert paired["per_checkpoint"] == pytest.approx([0.9, 0.7])
    lo, hi = paired["ci95"]
    assert 0.7 <= lo < 0.8 < hi <= 0.9
    cost = report["policies"]["pabfd@2"]["total_cost"]
    assert cost["mean"] == pytest.approx(385.0)
    assert cost["ci95"][0] < 385.0 < cost["ci95"][1]


def test_the_frontier_comparison_uses_the_best_heuristics_sweep():
    scores = {
        # pabfd is the best heuristic (cost); its sweep: (10 kWh, 3%), (12, 2%), (15, 1%).
        "pabfd@1": scores_of(1, total_cost=5.0, energy_kwh=15.0, slatah=0.01),
        "pabfd@2": scores_of(1, total_cost=6.0, energy_kwh=12.0, slatah=0.02),
        "pabfd@3": scores_of(1, total_cost=7.0, energy_kwh=10.0, slatah=0.03),
        "best-fit@1": scores_of(1, total_cost=9.0, energy_kwh=9.0, slatah=0.001),
        "policy": scores_of(3, total_cost=4.0, energy_kwh=11.0, slatah=0.015),
    }
    assert frontier_sweep(scores, best_heuristic(scores)) == ["pabfd@1", "pabfd@2", "pabfd@3"]
    frontier = summarize(scores, np.random.default_rng(0), reps=200)["frontier"]
    sla = frontier["sla_reduction_at_equal_energy"]
    energy = frontier["energy_reduction_at_equal_sla"]
    # Every window alike: the intervals close on the point.
    assert sla["mean"] == pytest.approx(1 - 0.015 / 0.025)
    assert sla["ci95"] == pytest.approx([sla["mean"]] * 2)
    assert energy["mean"] == pytest.approx(1 - 11.0 / 13.5)


def test_heuristics_alone_have_no_paired_or_frontier_figures():
    scores = {"pabfd@1": scores_of(1), "random": scores_of(1, total_cost=2.0)}
    report = summarize(scores, np.random.default_rng(0), reps=100)
    assert report["paired"] is None and report["frontier"] is None
    assert set(report["policies"]["random"]) == set(METRICS)
    assert report["policies"]["random"]["total_cost"] == {"mean": 2.0, "ci95": [2.0, 2.0]}
