"""Forecast error metrics over all origins, groups, steps and targets."""

import numpy as np


def error_metrics(forecast: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MAE and RMSE in data units; MAPE in percent over entries whose truth is not zero."""
    error = np.asarray(forecast, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    nonzero = truth != 0
    mape = 100 * np.mean(np.abs(error[nonzero] / truth[nonzero])) if nonzero.any() else None
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mape": None if mape is None else float(mape),
    }


def mae_by_step(forecast: np.ndarray, truth: np.ndarray) -> list[float]:
    """MAE at each forecast step 1..horizon (forecast, truth: [n, horizon, M])."""
    return np.abs(np.asarray(forecast, np.float64) - truth).mean(axis=(0, 2)).tolist()


def skill(mae: float, reference_mae: float) -> float | None:
    """Skill against a reference forecast: 1 - MAE / MAE_reference (0: no better, 1: perfect);
    None against a perfect reference, where no skill is defined."""
    return 1.0 - mae / reference_mae if reference_mae > 0 else None
