"""Series loading, time splits, windows, task binning and the baselines."""

import numpy as np
import pytest
import torch

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings.compose import compose_forecast_settings
from marl_alloc.floor.settings.forecast import SyntheticSeriesConfig
from marl_alloc.forecasting.baselines import moving_average, persistence, seasonal_naive
from marl_alloc.forecasting.demand import Tasks, demand_series, stable_hash, task_groups
from marl_alloc.forecasting.series import (
    WindowBatches,
    load_csv_series,
    scored_origins,
    training_origins,
    with_seasonal_lags,
)
from marl_alloc.forecasting.synthetic import synthetic_series
from marl_alloc.forecasting.workloads import WorkloadSpec, build_series


def test_csv_series_reads_timestamps_and_time_of_day(sine_csv):
    series = load_csv_series(sine_csv, "cpu", resolution_s=60)
    assert series.resolution_s == 300  # from the timestamp column, not the default
    assert series.values.shape == (864, 1, 3)
    assert series.feature_names == ("cpu", "tod_sin", "tod_cos")
    np.testing.assert_allclose(series.values[0, 0, 1:], [0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize(
    ("column", "message"), [("nope", "column 'nope' is not in"), ("cpu", "does not exist")]
)
def test_csv_errors_name_the_problem(sine_csv, column, message):
    path = sine_csv if column == "nope" else sine_csv.with_name("missing.csv")
    with pytest.raises(UserError, match=message):
        load_csv_series(path, column, 300)


def test_splits_keep_training_before_test_and_windows_inside():
    series = load_csv_series_like(1000)
    train, val = training_origins(series, 48, 12, 0.75, 0.2)
    test = scored_origins(series, 48, 12, 0.25)
    assert train[0] == 48 and train[-1] + 12 <= val[0]  # no training target in validation
    assert val[-1] + 12 <= 750 and test[0] == 750 and test[-1] + 12 == 1000


def test_too_short_series_is_a_user_error():
    with pytest.raises(UserError, match="window"):
        training_origins(load_csv_series_like(50), 48, 12, 0.75, 0.2)


def test_windows_and_baselines_line_up():
    series = load_csv_series_like(100)
    data = WindowBatches(series, np.array([20, 30]), window=8, horizon=3)
    x, y = data.batch(torch.arange(2))
    values = series.values[:, 0, 0]
    np.testing.assert_array_equal(x[1, :, 0].numpy(), values[22:30])
    np.testing.assert_array_equal(y[1, :, 0].numpy(), values[30:33])
    origins = np.array([20, 30])
    np.testing.assert_array_equal(persistence(series.targets, origins, 3)[1, :, 0], values[29])
    np.testing.assert_allclose(
        moving_average(series.targets, origins, 3, 4)[0, 0, 0], values[16:20].mean(), rtol=1e-6
    )
    np.testing.assert_array_equal(
        seasonal_naive(series.targets, origins, 3, 10)[0, :, 0], values[10:13]
    )


def test_seasonal_lag_aligns_last_window_steps_with_the_forecast_steps():
    series = with_seasonal_lags(load_csv_series_like(100), lags=[6, 9])
    assert series.first_valid == 9 and series.seasonal_lags == (6, 9)
    assert series.feature_names[-2:] == ("v_lag6", "v_lag9")
    values = series.values
    # The lagged features at step t hold the target at t - 6 and t - 9.
    np.testing.assert_array_equal(values[10:, 0, -2], values[4:-6, 0, 0])
    np.testing.assert_array_equal(values[10:, 0, -1], values[1:-9, 0, 0])
    assert scored_origins(series, 8, 2, 0.95)[0] == 17  # windows never read the placeholders


def test_feature_targets_name_each_targets_copies():
    plain = load_csv_series_like(40)
    assert plain.feature_targets == (0, -1, -1)  # value, tod_sin, tod_cos
    assert with_seasonal_lags(plain, lags=[6, 9]).feature_targets == (0, -1, -1, 0, 0)
    cfg = compose_forecast_settings(["synthetic.days=1", "groups.leaf_groups=2"])
    two_targets = with_seasonal_lags(synthetic_series(cfg.synthetic, 2, 300, 0), lags=[4])
    # cpu, mem, arrivals, departures, tod_sin, tod_cos, cpu_lag4, mem_lag4
    assert two_targets.feature_targets == (0, 1, -1, -1, -1, -1, 0, 1)


def test_stable_hash_is_fixed_and_spreads():
    assert stable_hash(np.array([0, 1]))[0] == np.uint64(0xE220A8397B1DCDAF)
    groups = task_groups(np.arange(5000), np.zeros(5000, dtype=np.int64), 4)
    assert set(np.bincount(groups)) <= set(range(1100, 1400))


def test_demand_series_time_averages_running_requests():
    tasks = Tasks(
        submit_s=np.array([0.0, 150.0, 250.0]),
        start_s=np.array([0.0, 150.0, 250.0]),
        end_s=np.array([100.0, np.inf, 350.0]),
        cpu=np.array([1.0, 2.0, 4.0]),
        mem=np.array([1.0, 1.0, 1.0]),
        group=np.array([0, 0, 1]),
    )
    series = demand_series(tasks, 100.0, np.array([1.0, 2.0]), np.array([1.0, 1.0]), "t")
    cpu = series.values[..., 0]
    # Group 0: task 0 runs all of bin 0, task 1 half of bin 1 and bin 2 (cut at the last edge).
    np.testing.assert_allclose(cpu[:, 0], [1.0, 1.0, 2.0])
    np.testing.assert_allclose(cpu[:, 1], [0.0, 0.0, 1.0])  # 4 cpu * half a bin / capacity 2
    np.testing.assert_allclose(cpu[:, 2], (cpu[:, 0] * 1 + cpu[:, 1] * 2) / 3)  # the cluster
    arrivals, departures = series.values[:, 0, 2], series.values[:, 0, 3]
    np.testing.assert_array_equal(arrivals, [1, 1, 0])
    np.testing.assert_array_equal(departures, [0, 1, 0])  # task 0 ends at 100 s, in bin 1


def test_demand_series_from_t0_counts_earlier_runs_but_not_their_arrivals():
    # As in Google 2011: A and B were submitted before the window (t = 0), B never ran.
    tasks = Tasks(
        submit_s=np.array([0.0, 0.0, 150.0, 350.0]),
        start_s=np.array([0.0, np.inf, 150.0, 350.0]),
        end_s=np.array([np.inf, np.inf, 250.0, np.inf]),
        cpu=np.array([1.0, 5.0, 2.0, 4.0]),
        mem=np.ones(4),
        group=np.zeros(4, dtype=np.int64),
    )
    series = demand_series(tasks, 100.0, np.array([1.0]), np.array([1.0]), "t", t0=100.0)
    np.testing.assert_allclose(series.values[:, 0, 0], [2.0, 2.0, 3.0])
    np.testing.assert_array_equal(series.values[:, 0, 2], [1, 0, 1])  # arrivals
    np.testing.assert_array_equal(series.values[:, 0, 3], [0, 1, 0])  # departures


def test_synthetic_series_is_seeded_and_diurnal():
    cfg = SyntheticSeriesConfig(
        days=2,
        arrival_rate_per_s=0.05,
        diurnal_amplitude=0.6,
        bursts_per_day=4,
        burst_size_mean=20,
        duration_mean_s=1800,
        cpu_request_mean=0.05,
        mem_request_mean=0.04,
        target_utilization=0.5,
    )
    a, b = synthetic_series(cfg, 3, 300, seed=1), synthetic_series(cfg, 3, 300, seed=1)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.group_names == ("leaf_00", "leaf_01", "leaf_02", "cluster")
    cluster_cpu = a.values[:, -1, 0]
    # Demand peaks in the afternoon and bottoms out at night: a daily cycle.
    by_hour = cluster_cpu[:288].reshape(24, 12).mean(1)
    assert by_hour[12:20].mean() > 1.5 * by_hour[0:6].mean()
    assert 0.2 < cluster_cpu[100:].mean() < 0.9


def load_csv_series_like(steps: int):
    """A one-group series whose value is its step index (easy to check windows against)."""
    from marl_alloc.forecasting.series import DemandSeries, time_of_day

    t = np.arange(steps, dtype=np.float64)
    values = np.concatenate([t[:, None], time_of_day(t * 300)], -1).astype(np.float32)
    return DemandSeries(values[:, None], ("v", "s", "c"), (0,), ("v",), 300.0, "steps")


def test_build_series_adds_a_lag_for_each_season_the_training_rows_span_twice(tmp_path):
    hours = 20 * 24  # 20 days hourly: the first 75% (15 days) span two days and two weeks
    path = tmp_path / "hourly.csv"
    path.write_text("cpu\n" + "\n".join(str(i % 24) for i in range(hours)) + "\n")
    spec = WorkloadSpec("series", str(path), "cpu", resolution_s=3600)
    series = build_series(spec, compose_forecast_settings(["data.horizon=12"]))
    assert series.seasonal_lags == (24 - 12, 168 - 12) and series.first_valid == 156
    short = build_series(
        spec, compose_forecast_settings(["data.horizon=12", "data.train_fraction=0.5"])
    )
    assert short.seasonal_lags == (12,)  # 10 days: two days, not two weeks
    assert build_series(spec, compose_forecast_settings([]), seasonal_lags=[]).seasonal_lags == ()
