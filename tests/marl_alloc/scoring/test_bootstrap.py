"""The bootstrap's intervals: they cover the true mean as often as they claim."""

import numpy as np
import pytest

from marl_alloc.scoring.bootstrap import interval, mean_ci, statistic_ci


@pytest.mark.parametrize(
    ("draw", "true_mean"),
    [
        (lambda rng, n: rng.normal(3.0, 2.0, n), 3.0),
        # Skewed, like energy and cost across windows: lognormal mean exp(mu + sigma^2 / 2).
        (lambda rng, n: rng.lognormal(0.0, 0.5, n), float(np.exp(0.125))),
    ],
)
def test_intervals_cover_a_known_mean_about_95_percent_of_the_time(draw, true_mean):
    rng = np.random.default_rng(0)
    trials, cells = 400, 36  # 36 = 6 windows x 2 loads x 3 seeds
    covered = 0
    for _ in range(trials):
        lo, hi = mean_ci(draw(rng, cells), rng, reps=1000)["ci95"]
        covered += lo <= true_mean <= hi
    # Percentile intervals run a little narrow on few cells; 400 trials: +-0.02 at 95%.
    assert 0.89 <= covered / trials <= 0.98


def test_the_interval_narrows_as_cells_grow():
    rng = np.random.default_rng(1)
    widths = []
    for cells in (12, 48, 192):
        lo, hi = mean_ci(rng.normal(0.0, 1.0, cells), rng)["ci95"]
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    # 1.96 x 2 / sqrt(n) for a unit normal.
    assert widths[2] == pytest.approx(2 * 1.96 / np.sqrt(192), rel=0.25)


def test_a_statistic_undefined_on_many_draws_has_no_interval():
    rng = np.random.default_rng(2)
    values = np.arange(10.0)
    # Defined only where the mean of the drawn cells is below 4.5: half the draws, not all cells.
    stat = statistic_ci(lambda cells: np.nan if values[cells].mean() >= 4.5 else 1.0, 10, rng)
    assert stat == {"mean": None, "ci95": None}
    assert interval(np.array([1.0, 2.0, np.nan])) is None
    assert interval(np.full(100, 2.0)) == [2.0, 2.0]
