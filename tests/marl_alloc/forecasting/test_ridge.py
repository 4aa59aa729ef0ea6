"""The linear reference: fits what is linear in the window, picks its penalty on validation."""

import numpy as np

from marl_alloc.forecasting.ridge import PENALTIES, RidgeForecaster
from marl_alloc.forecasting.series import DemandSeries, time_of_day, with_seasonal_lags


def _series(values: np.ndarray) -> DemandSeries:
    t = np.arange(len(values), dtype=np.float64) * 300
    features = np.concatenate([values[:, None], time_of_day(t)], -1).astype(np.float32)
    return DemandSeries(features[:, None], ("v", "s", "c"), (0,), ("v",), 300.0, "test")


def test_ridge_continues_a_trend_exactly():
    series = _series(100 + 0.5 * np.arange(300, dtype=np.float64))
    ridge = RidgeForecaster(series, window=8, horizon=3).fit(np.arange(8, 200), np.arange(200, 250))
    forecast = ridge.predict(np.array([260, 270]))
    np.testing.assert_allclose(
        forecast[:, :, 0], series.values[[[260, 261, 262], [270, 271, 272]], 0, 0], atol=1e-3
    )
    assert ridge.penalty in PENALTIES and ridge.val_mae < 1e-3


def test_ridge_uses_the_seasonal_lag_and_ignores_the_level():
    # A daily pattern of period 24 on top of a level that jumps: with the lag feature leveled
    # like the target, ridge forecasts the pattern from its copy a season ago.
    rng = np.random.default_rng(0)
    steps = np.arange(600)
    values = 10 * np.sin(2 * np.pi * steps / 24) + 50 * (steps >= 300) + rng.normal(0, 0.01, 600)
    series = with_seasonal_lags(_series(values), lags=[20])
    ridge = RidgeForecaster(series, window=8, horizon=4).fit(
        np.arange(28, 250), np.arange(250, 290)
    )
    origins = np.arange(400, 590)
    truth = values[origins[:, None] + np.arange(4)]
    assert np.abs(ridge.predict(origins)[..., 0] - truth).mean() < 0.1
