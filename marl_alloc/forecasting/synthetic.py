"""A seeded synthetic workload: diurnal Poisson arrivals plus bursts of tasks, as task events."""

import numpy as np

from marl_alloc.floor.settings.forecast import SyntheticSeriesConfig
from marl_alloc.forecasting.demand import Tasks, demand_series, task_groups
from marl_alloc.forecasting.series import DAY_S, DemandSeries

# Arrivals are drawn per minute; the series is then binned at the configured resolution.
_ARRIVAL_BIN_S = 60.0


def synthetic_tasks(cfg: SyntheticSeriesConfig, num_groups: int, seed: int) -> Tasks:
    """Tasks whose arrival rate follows a daily sine with random bursts (sizes geometric)."""
    rng = np.random.default_rng(seed)
    horizon_s = cfg.days * DAY_S
    bins = np.arange(0.0, horizon_s, _ARRIVAL_BIN_S)
    phase = 2 * np.pi * bins / DAY_S
    rate = cfg.arrival_rate_per_s * (1 + cfg.diurnal_amplitude * np.sin(phase - np.pi / 2))
    counts = rng.poisson(rate * _ARRIVAL_BIN_S)
    bursts = rng.random(len(bins)) < cfg.bursts_per_day * _ARRIVAL_BIN_S / DAY_S
    counts[bursts] += rng.geometric(1 / cfg.burst_size_mean, size=int(bursts.sum()))
    submit = np.repeat(bins, counts) + rng.random(int(counts.sum())) * _ARRIVAL_BIN_S
    n = len(submit)
    return Tasks(
        submit_s=submit,
        start_s=submit,
        end_s=submit + rng.exponential(cfg.duration_mean_s, n),
        cpu=rng.exponential(cfg.cpu_request_mean, n),
        mem=rng.exponential(cfg.mem_request_mean, n),
        group=task_groups(np.arange(n), np.zeros(n, dtype=np.int64), num_groups),
    )


def synthetic_series(
    cfg: SyntheticSeriesConfig, num_groups: int, resolution_s: float, seed: int
) -> DemandSeries:
    """Per-group demand of the synthetic tasks, capacity sized to the mean target utilization."""
    tasks = synthetic_tasks(cfg, num_groups, seed)
    mean_running = cfg.arrival_rate_per_s * cfg.duration_mean_s
    capacity = np.full(num_groups, mean_running / num_groups / cfg.target_utilization)
    return demand_series(
        tasks,
        resolution_s,
        cpu_capacity=capacity * cfg.cpu_request_mean,
        mem_capacity=capacity * cfg.mem_request_mean,
        name=f"synthetic(seed={seed})",
    )
