"""The policy's observations of one pod on one layout, built row by row as the levels ask.

Every level's observation row is built by the simulator's own feature code (envs.observations)
from the tiled host columns, exactly as envs.observations.child_blocks builds it: one row per
virtual cluster (its racks), virtual rack (its leaf groups) and leaf group (its hosts). Rows are
built only when asked for: scoring top-down (marl_alloc.serving.top_down) needs all cluster rows
but only a few rack and leaf rows. A group block's pod-independent features come from the
replica's GroupLoadCache (marl_alloc.serving.group_loads), its placement features from the pod.
With the policy's forecaster, each row's forecast features are its own (the mean over the leaf
groups under it: marl_alloc.serving.forecasts); without, zeros as in the simulator before a
forecaster sets one.
"""

import dataclasses

import numpy as np

from envs.hosts import OFF
from envs.observations import (
    PlacementQuery,
    assemble,
    context_features,
    group_features,
    host_features,
    task_features,
)
from envs.power import PowerModel
from envs.topology import Topology
from marl_alloc.floor.settings.env import HostConfig
from marl_alloc.serving.forecasts import LevelForecast
from marl_alloc.serving.group_loads import GroupLoads
from marl_alloc.serving.hierarchy import HostColumns
from marl_alloc.serving.kube_objects import PodRequest
from marl_alloc.serving.pod_durations import DurationBelief


@dataclasses.dataclass(frozen=True)
class TaskContext:
    """What every level's observation appends after its child blocks."""

    task: np.ndarray  # float[7], envs.observations.task_features of the pod
    context: np.ndarray  # float[3 + F]: time of day, carbon intensity / mean, zero forecast
    sim_time_s: float  # the time of day's clock
    carbon_norm: float  # carbon intensity / the series' mean
    query: PlacementQuery  # the pod's request in capacity units, for the placement features
    can_defer: bool  # the cluster level's defer action is allowed


def task_context(
    pod: PodRequest,
    duration: DurationBelief,
    cpu_unit: float,
    mem_unit: float,
    sim_time_s: float,
    carbon_norm: float,
    *,
    max_priority: int,
    max_defers: int,
    forecast_horizon: int,
    usage_factor_mean: float,
    power_model: PowerModel,
    hosts: HostConfig,
    can_defer: bool,
) -> TaskContext:
    """The pod's task features, with the run time believed of it, and the context features with a
    zero forecast (LevelObservations puts each row's own in, when there is a forecaster).
    Placement times count from 0 (see `held_until`)."""
    cpu, mem = pod.cpu / cpu_unit, pod.mem / mem_unit
    pending = {
        "cpu": np.array([cpu]),
        "mem": np.array([mem]),
        "duration_est_s": np.array([duration.seconds]),
        "duration_unc": np.array([duration.uncertainty]),
        "priority": np.array([pod.priority]),
        "deferrable": np.array([pod.deferrable]),
        "defers": np.array([pod.defers]),
    }
    task = task_features(pending, max_priority, max_defers)[0]
    forecast = np.zeros((1, forecast_horizon))
    context = context_features(np.array([sim_time_s]), np.array([carbon_norm]), forecast)[0]
    query = PlacementQuery(
        cpu=np.array([cpu]),
        mem=np.array([mem]),
        expected_usage=np.array([cpu * usage_factor_mean]),
        duration_s=np.array([duration.seconds]),
        now_s=np.zeros(1),
        power_model=power_model,
        boot_delay_s=hosts.boot_delay_s,
        idle_timeout_s=hosts.idle_timeout_s,
    )
    return TaskContext(task, context, sim_time_s, carbon_norm, query, can_defer)


def held_until(hosts: HostColumns, query: PlacementQuery) -> np.ndarray:
    """When each node may switch off at the earliest (HostCommitments.until in the simulator).
    The cluster does not say when its pods will end, so a node that is on reads as if it had
    just gone idle: held for the idle timeout, and a pod's run time on it is all added time."""
    return np.where(hosts.power_state != OFF, query.idle_timeout_s, -np.inf)


class LevelObservations:
    """Action masks of every row of every level, and observation rows on demand."""

    def __init__(
        self,
        hosts: HostColumns,
        feasible: np.ndarray,
        top: Topology,
        tc: TaskContext,
        loads: GroupLoads,
        forecast: LevelForecast | None = None,
    ):
        C, R = top.num_clusters, top.racks_per_cluster
        L, H = top.leaves_per_rack, top.hosts_per_leaf
        self.tc = tc
        self.forecast = forecast
        self.mask = {
            "cluster": np.concatenate(
                [feasible.reshape(C, R, L * H).any(-1), np.full((C, 1), tc.can_defer)], axis=1
            ),
            "rack": feasible.reshape(C * R, L, H).any(-1),
            "leaf": feasible.reshape(C * R * L, H),
        }
        self._shape = {"cluster": (C, R, L * H), "rack": (C * R, L, H), "leaf": (C * R * L, H)}
        self._columns = (*hosts.as_tuple(), held_until(hosts, tc.query), feasible)
        self._loads = {
            "cluster": loads.per_rack.reshape(C, R, -1),
            "rack": loads.per_leaf.reshape(C * R, L, -1),
        }

    def rows_with_action(self, level: str) -> np.ndarray:
        """The rows of `level` with a feasible action (the others never reach a score)."""
        return np.flatnonzero(self.mask[level].any(axis=1))

    def observations(self, level: str, rows: np.ndarray) -> np.ndarray:
        """float32[len(rows), obs_dim]: the observation of each of `rows` of `level`."""
        shape = self._shape[level]
        every_row = len(rows) == shape[0]  # then `rows` are all of them, in order: no copies
        columns = [c.reshape(shape) if every_row else c.reshape(shape)[rows] for c in self._columns]
        # The pod's one-row query broadcasts against every row.
        if level == "leaf":
            blocks = host_features(*columns, self.tc.query)
        else:
            loads = self._loads[level] if every_row else self._loads[level][rows]
            blocks = group_features(*columns, self.tc.query, load=loads)
        n = blocks.shape[0]
        task = np.tile(self.tc.task, (n, 1))
        return assemble(blocks, task, self.context(level, None if every_row else rows, n))

    def context(self, level: str, rows: np.ndarray | None, n: int) -> np.ndarray:
        """float[n, 3 + F]: the context features of `rows` of `level` (None: all n rows)."""
        tc = self.tc
        if self.forecast is None:
            return np.tile(tc.context, (n, 1))
        forecast = self.forecast.rows[level]
        forecast = forecast if rows is None else forecast[rows]
        return context_features(np.full(n, tc.sim_time_s), np.full(n, tc.carbon_norm), forecast)
