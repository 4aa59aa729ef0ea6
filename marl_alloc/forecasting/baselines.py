"""Statistical baselines on the same origins as the learned models: each returns
[origins * groups, horizon, M] in origin-major order, like `WindowBatches`."""

import numpy as np


def _flat(forecast: np.ndarray) -> np.ndarray:
    # [origins, horizon, G, M] -> [origins * G, horizon, M]
    n, horizon, groups, targets = forecast.shape
    return forecast.transpose(0, 2, 1, 3).reshape(n * groups, horizon, targets)


def persistence(targets: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed value, held for every step."""
    last = targets[origins - 1]
    return _flat(np.repeat(last[:, None], horizon, axis=1))


def moving_average(
    targets: np.ndarray, origins: np.ndarray, horizon: int, steps: int
) -> np.ndarray:
    """Mean of the last `steps` observed values, held for every step."""
    cumsum = np.concatenate([np.zeros_like(targets[:1]), np.cumsum(targets, axis=0)])
    start = np.maximum(origins - steps, 0)
    mean = (cumsum[origins] - cumsum[start]) / (origins - start)[:, None, None]
    return _flat(np.repeat(mean[:, None], horizon, axis=1))


def seasonal_naive(
    targets: np.ndarray, origins: np.ndarray, horizon: int, season_steps: int
) -> np.ndarray:
    """The value one season before each forecast step (needs origins >= season >= horizon)."""
    steps = origins[:, None] + np.arange(horizon) - season_steps
    return _flat(targets[steps])
