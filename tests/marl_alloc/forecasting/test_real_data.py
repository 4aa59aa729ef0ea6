"""The shared real traces load and score as the issue states (skip without ../shared/data)."""

import pytest
import torch

from marl_alloc.floor.settings.compose import compose_forecast_settings
from marl_alloc.forecasting.baselines import moving_average, persistence
from marl_alloc.forecasting.metrics import error_metrics
from marl_alloc.forecasting.series import WindowBatches, load_csv_series, scored_origins
from marl_alloc.forecasting.workloads import WorkloadSpec, build_series


@pytest.fixture
def utilization(shared_data):
    return shared_data / "utilization"


def test_azure_series_loads_at_5_min(utilization):
    series = load_csv_series(utilization / "azure_v2_month_300s.csv", "cpu_usage", 60)
    assert series.values.shape == (30 * 288, 1, 3) and series.resolution_s == 300


def test_alibaba_baselines_match_the_issue(utilization):
    # The issue: on Alibaba 2018 at 5 min, persistence ~5.9 and a 12-step mean ~5.3 CPU points.
    series = load_csv_series(utilization / "alibaba2018_days1-8_300s.csv", "cpu_util_percent", 300)
    origins = scored_origins(series, 48, 12, 0.25)
    truth = WindowBatches(series, origins, 48, 12).batch(torch.arange(len(origins)))[1].numpy()
    pers = error_metrics(persistence(series.targets, origins, 12), truth)["mae"]
    mean = error_metrics(moving_average(series.targets, origins, 12, 12), truth)["mae"]
    assert pers == pytest.approx(5.9, abs=0.1) and mean == pytest.approx(5.3, abs=0.1)


def test_google2011_parts_become_per_group_demand(shared_data):
    trace = shared_data / "google-2011"
    spec = WorkloadSpec(
        "google2011",
        task_events=tuple(str(p) for p in sorted(trace.glob("task_events-part-*.csv.gz"))),
        machine_events=str(trace / "machine_events-part-00000-of-00001.csv.gz"),
    )
    series = build_series(spec, compose_forecast_settings([]))
    # Two parts: t = 600 .. 10,622 s at one minute; 12 leaf groups and the cluster.
    assert series.values.shape == (167, 13, 6) and series.seasonal_lags == ()
    cluster_cpu = series.values[:, -1, 0]
    # Tasks running since before the window count from its start: requests stay near capacity.
    assert cluster_cpu.min() > 0.9 and cluster_cpu.max() < 1.2
