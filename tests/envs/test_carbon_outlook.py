"""The carbon outlook of a deferral: forecast from the past only (the oracle reads the future, as
an ablation), exact on a series that repeats daily, and observed only when asked for."""

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import VectorDatacenterEnv
from envs.carbon import CarbonSeries, deferral_outlook
from envs.observations import observation_dims
from marl_alloc.floor.settings.env import CarbonConfig

DAY_S = 86400.0
STEP_S = 3600.0


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(0, 1000), min_size=24 * 9, max_size=24 * 9),
    hour=st.integers(24 * 7, 24 * 8),
    ahead_h=st.integers(1, 6),
    noise=st.floats(1, 500),
)
def test_the_causal_forecast_reads_no_value_after_now(values, hour, ahead_h, noise):
    series = CarbonSeries(np.array(values), STEP_S)
    now = np.array([hour * STEP_S + 1.0])
    before = series.causal_forecast(now, ahead_h * STEP_S, days=7)
    future = np.array(values)
    future[hour + 1 :] += noise  # everything after now changes
    changed = CarbonSeries(future, STEP_S).causal_forecast(now, ahead_h * STEP_S, days=7)
    np.testing.assert_array_equal(changed, before)


def test_on_a_daily_repeating_series_the_causal_forecast_is_the_future():
    day = 200 + 100 * np.cos(2 * np.pi * np.arange(24) / 24)
    series = CarbonSeries(np.tile(day, 10), STEP_S)
    now = np.arange(8 * 24, 9 * 24) * STEP_S
    for ahead in (STEP_S, 4 * STEP_S):
        forecast = series.causal_forecast(now, ahead, days=7)
        np.testing.assert_allclose(forecast, series.at(now + ahead))


def test_the_outlook_is_the_return_and_the_lowest_return_over_the_mean():
    series = CarbonSeries(np.array([100.0, 300.0, 50.0, 150.0]), STEP_S)  # mean 150
    oracle = CarbonConfig(forecast="oracle")
    outlook = deferral_outlook(series, oracle, np.array([0.0]), STEP_S, returns=3)
    np.testing.assert_allclose(outlook, [[300 / 150, 50 / 150]])


def test_the_outlook_is_observed_only_when_asked_for(small_config):
    plain = VectorDatacenterEnv(small_config, num_envs=2, seed=0)
    config = copy.deepcopy(small_config)
    config["carbon"]["forecast"] = "causal"
    with_outlook = VectorDatacenterEnv(config, num_envs=2, seed=0)
    horizon = plain.config.forecast_horizon
    assert plain.obs_dims == observation_dims(plain.topology, horizon)
    for level, size in plain.obs_dims.items():
        assert with_outlook.obs_dims[level] == size + 2
    a, b = plain.observe().obs, with_outlook.observe().obs
    # The two outlook features sit after the current intensity; the forecast block stays last.
    np.testing.assert_array_equal(a[:, :-horizon], b[:, : -horizon - 2])
    np.testing.assert_array_equal(a[:, -horizon:], b[:, -horizon:])
    expected = deferral_outlook(
        with_outlook.carbon,
        with_outlook.config.carbon,
        with_outlook.now,
        with_outlook.config.defer_delay_s,
        with_outlook.config.max_defers,
    )
    np.testing.assert_allclose(b[:, -horizon - 2 : -horizon], expected, rtol=1e-6)
