"""A linear reference: ridge regression on the nets' own input windows, fitted in closed form.

It sees what the nets see (every feature of the window, the target and its seasonal lags taken
relative to the last value) and predicts each step's change from the last value; its penalty is
picked on the validation split. On a noisy series it shows how much of the error any forecaster
built on these inputs can remove.
"""

import numpy as np
import torch

from marl_alloc.forecasting.series import DemandSeries, WindowBatches

PENALTIES = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _design(series: DemandSeries, origins: np.ndarray, window: int, horizon: int):
    data = WindowBatches(series, origins, window, horizon)
    x, y = (t.double().numpy() for t in data.batch(torch.arange(len(data))))
    last = x[:, -1, list(series.target_features)]  # [n, M]
    copies = np.array(series.feature_targets)
    leveled = copies >= 0
    x[..., leveled] -= last[:, None, copies[leveled]]
    return x.reshape(len(x), -1), (y - last[:, None]).reshape(len(y), -1), last


class RidgeForecaster:
    """Ridge regression of the next `horizon` changes on the leveled, flattened window."""

    def __init__(self, series: DemandSeries, window: int, horizon: int):
        self.series, self.window, self.horizon = series, window, horizon
        self.penalty, self.val_mae = PENALTIES[0], float("nan")

    def fit(self, train_origins: np.ndarray, val_origins: np.ndarray) -> "RidgeForecaster":
        """Fit on the training origins with each penalty; keep the best on validation MAE."""
        x, y, _ = _design(self.series, train_origins, self.window, self.horizon)
        self.mean, self.std = x.mean(0), x.std(0) + 1e-9
        xs = np.c_[(x - self.mean) / self.std, np.ones(len(x))]
        gram, moment = xs.T @ xs, xs.T @ y
        best = np.inf
        for penalty in PENALTIES:
            ridge = penalty * np.eye(len(gram))
            ridge[-1, -1] = 0.0  # the intercept is not shrunk
            self.weights = np.linalg.solve(gram + ridge, moment)
            val_mae = self.validation_mae(val_origins)
            if val_mae < best:
                best, chosen = val_mae, (penalty, self.weights)
        self.penalty, self.weights = chosen
        self.val_mae = best
        return self

    def predict(self, origins: np.ndarray) -> np.ndarray:
        """Forecasts [origins * groups, horizon, M] in data units, origin-major like the nets'."""
        x, _, last = _design(self.series, origins, self.window, self.horizon)
        change = np.c_[(x - self.mean) / self.std, np.ones(len(x))] @ self.weights
        return change.reshape(len(x), self.horizon, -1) + last[:, None]

    def validation_mae(self, origins: np.ndarray) -> float:
        """MAE in data units over the windows at `origins`."""
        data = WindowBatches(self.series, origins, self.window, self.horizon)
        truth = data.batch(torch.arange(len(data)))[1].double().numpy()
        return float(np.abs(self.predict(origins) - truth).mean())
