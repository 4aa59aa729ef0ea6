"""Percentile bootstrap: a statistic's mean and 95% interval over resampled cells.

A cell is one (window, load, seed) score. Every statistic of a report resamples the same way:
draw as many cells as there are, with replacement, `reps` times, and take the 2.5th and 97.5th
percentiles of the statistic over the draws (Efron & Tibshirani 1993, ch. 13).
"""

from collections.abc import Callable

import numpy as np

REPS = 2000


def resample(cells: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """int[reps, cells]: the cells each bootstrap draw takes."""
    return rng.integers(0, cells, size=(reps, cells))


def interval(draws: np.ndarray) -> list[float] | None:
    """The 95% percentile interval of a statistic's draws; None when fewer than 95% of the
    draws define it (NaN: e.g. a point outside a frontier)."""
    defined = draws[np.isfinite(draws)]
    if defined.size < 0.95 * draws.size:
        return None
    lo, hi = np.percentile(defined, [2.5, 97.5])
    return [float(lo), float(hi)]


def mean_ci(values: np.ndarray, rng: np.random.Generator, reps: int = REPS) -> dict:
    """{"mean": x, "ci95": [lo, hi]} of the cells' values."""
    values = np.asarray(values, np.float64).reshape(-1)
    means = values[resample(values.size, reps, rng)].mean(axis=1)
    return {"mean": float(values.mean()), "ci95": interval(means)}


def statistic_ci(
    statistic: Callable[[np.ndarray], float],
    cells: int,
    rng: np.random.Generator,
    reps: int = REPS,
) -> dict:
    """{"mean": statistic(all cells), "ci95": its interval}, for a statistic of a set of cell
    indices (NaN where it is undefined; the mean is then None)."""
    point = statistic(np.arange(cells))
    draws = np.array([statistic(idx) for idx in resample(cells, reps, rng)])
    return {"mean": float(point) if np.isfinite(point) else None, "ci95": interval(draws)}
