"""The demand series a forecast command works on: synthetic, a utilization CSV, or Google 2011."""

from dataclasses import dataclass
from typing import Any

import numpy as np

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings.forecast import ForecastSettings
from marl_alloc.forecasting.demand import Tasks, demand_series, machine_groups, task_groups
from marl_alloc.forecasting.series import DemandSeries, load_csv_series, with_seasonal_lags
from marl_alloc.forecasting.synthetic import synthetic_series

WORKLOADS = ("synthetic", "series", "google2011")


@dataclass(frozen=True)
class WorkloadSpec:
    """Where the series comes from (the command-line side of a workload)."""

    kind: str = "synthetic"
    series: str | None = None
    column: str | None = None
    resolution_s: float | None = None
    task_events: tuple[str, ...] = ()
    machine_events: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for forecaster.json."""
        return {**self.__dict__, "task_events": list(self.task_events)}


def _google2011(spec: WorkloadSpec, cfg: ForecastSettings) -> DemandSeries:
    if not spec.task_events or not spec.machine_events:
        raise UserError(
            "--workload google2011 needs --task-events F [F ...] and --machine-events F"
        )
    from envs.errors import WorkloadError
    from envs.workloads.google2011 import load_machines, load_tasks

    try:
        tasks_table = load_tasks(list(spec.task_events))
        machines = load_machines(spec.machine_events)
    except WorkloadError as err:  # the trace readers' one-line errors name file and row
        raise UserError(str(err)) from None
    num_groups = cfg.groups.leaf_groups
    task_columns = ("submit_s", "scheduled_s", "end_s", "cpu", "mem", "job_id", "task_index")
    for table, columns, what in (
        (tasks_table, task_columns, "tasks"),
        (machines, ("machine_id", "cpu", "mem"), "machines"),
    ):
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise UserError(f"google2011 {what} table lacks columns {missing}")
    column = {
        name: tasks_table[name].to_numpy(zero_copy_only=False) for name in tasks_table.column_names
    }
    # Runs as the trace shows them, not load_tasks' drawn durations: a task scheduled before the
    # window (0) runs from its start, one with no end in these files runs on past them, and one
    # never scheduled (NaN) never runs.
    submit = column["submit_s"].astype(np.float64)
    scheduled = column["scheduled_s"].astype(np.float64)
    end = column["end_s"].astype(np.float64)
    if not (submit > 0).any():
        raise UserError("the google2011 task events hold no task submitted inside the trace window")
    tasks = Tasks(
        submit_s=submit,
        start_s=np.where(np.isnan(scheduled), np.inf, scheduled),
        end_s=np.where(np.isnan(end), np.inf, end),
        cpu=np.nan_to_num(column["cpu"].astype(np.float64)),
        mem=np.nan_to_num(column["mem"].astype(np.float64)),
        group=task_groups(column["job_id"], column["task_index"], num_groups),
    )
    machine_group = machine_groups(machines["machine_id"].to_numpy(), num_groups)
    capacity = [
        np.bincount(
            machine_group,
            np.nan_to_num(machines[c].to_numpy(zero_copy_only=False)),
            minlength=num_groups,
        )
        for c in ("cpu", "mem")
    ]
    if (capacity[0] <= 0).any() or (capacity[1] <= 0).any():
        raise UserError("some leaf group has no machine capacity; use fewer groups.leaf_groups")
    resolution = spec.resolution_s or cfg.google2011.resolution_s
    # Timestamp 0 means "before the window": the series starts at the first event inside it.
    window_start = float(submit[submit > 0].min())
    return demand_series(
        tasks, resolution, capacity[0], capacity[1], name="google2011", t0=window_start
    )


def build_series(
    spec: WorkloadSpec, cfg: ForecastSettings, seasonal_lags: list[int] | None = None
) -> DemandSeries:
    """The workload's demand series, with a lag feature for each season that the training rows
    span at least twice (or exactly `seasonal_lags`, as a saved model asks)."""
    if spec.kind == "synthetic":
        resolution = spec.resolution_s or cfg.synthetic.resolution_s
        series = synthetic_series(cfg.synthetic, cfg.groups.leaf_groups, resolution, cfg.seed)
    elif spec.kind == "series":
        if not spec.series or not spec.column:
            raise UserError("--workload series needs --series FILE and --column NAME")
        resolution = spec.resolution_s or cfg.data.resolution_s
        series = load_csv_series(spec.series, spec.column, resolution)
    elif spec.kind == "google2011":
        series = _google2011(spec, cfg)
    else:
        raise UserError(f"unknown workload '{spec.kind}' (choose one of: {', '.join(WORKLOADS)})")
    if seasonal_lags is None:
        data = cfg.data
        training_rows = len(series.values) * data.train_fraction
        seasons = [round(s / series.resolution_s) for s in data.seasons_s]
        seasonal_lags = [
            s - data.horizon for s in seasons if s > data.horizon and training_rows >= 2 * s
        ]
    return with_seasonal_lags(series, seasonal_lags) if seasonal_lags else series
