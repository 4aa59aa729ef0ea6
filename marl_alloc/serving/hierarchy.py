"""Lay a Kubernetes cluster's nodes onto the policy's hierarchy and build its observations.

The policy was trained on clusters of R racks, racks of L leaf groups, leaf groups of H hosts
(the checkpoint's env.topology). Real clusters have any number of zones, racks and nodes, so the
nodes are *tiled* onto that shape:

- nodes are grouped by (zone label, rack label) and sorted by name within a rack;
- each rack's nodes fill leaf groups of H hosts in order, and its leaf groups fill *virtual racks*
  of L leaf groups (the last ones padded);
- each zone's virtual racks fill *virtual clusters* of R racks (the last one padded).

Padding slots are empty host slots as in the simulator (no machine: all zeros, never fit). The
result is a simulator host layout of C virtual clusters (envs.Topology(C, R, L, H)), and every
level's observation is then built by the simulator's own feature code (envs.observations), one
row per virtual cluster, virtual rack and leaf group.
"""

import dataclasses

import numpy as np

from envs.hosts import FIT_TOLERANCE, OFF
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
from marl_alloc.serving.kube_objects import NodeTable, PodRequest


@dataclasses.dataclass(frozen=True)
class Tiling:
    """Which node sits in each host slot of C virtual clusters of the policy's shape."""

    topology: Topology
    node_of_slot: np.ndarray  # int64[num_hosts]; -1 marks a padding slot

    @property
    def real_slots(self) -> np.ndarray:
        """Slot indices that hold a node."""
        return np.flatnonzero(self.node_of_slot >= 0)


def tile(table: NodeTable, racks_per_cluster: int, leaves_per_rack: int, hosts_per_leaf: int):
    """The Tiling of `table`'s nodes (see the module docstring)."""
    rack_slots = leaves_per_rack * hosts_per_leaf
    cluster_slots = racks_per_cluster * rack_slots
    n = len(table)
    if n == 0:
        empty = Topology(0, racks_per_cluster, leaves_per_rack, hosts_per_leaf)
        return Tiling(empty, np.zeros(0, np.int64))
    zones, racks = np.asarray(table.zones), np.asarray(table.racks)
    order = np.lexsort((np.asarray(table.names), racks, zones))
    zones, racks = zones[order], racks[order]
    new_rack = np.flatnonzero(
        np.r_[True, (zones[1:] != zones[:-1]) | (racks[1:] != racks[:-1]), True]
    )
    pieces: list[np.ndarray] = []
    zone_start = 0  # slot count where the current zone began
    filled = 0
    for start, stop in zip(new_rack[:-1], new_rack[1:], strict=True):
        if start > 0 and zones[start] != zones[start - 1]:
            pad = -(filled - zone_start) % cluster_slots
            pieces.append(np.full(pad, -1, np.int64))
            filled += pad
            zone_start = filled
        # Leaf groups are contiguous runs of H slots, so a rack is its nodes then padding.
        size = -(-(stop - start) // rack_slots) * rack_slots
        block = np.full(size, -1, np.int64)
        block[: stop - start] = order[start:stop]
        pieces.append(block)
        filled += size
    pieces.append(np.full(-(filled - zone_start) % cluster_slots, -1, np.int64))
    node_of_slot = np.concatenate(pieces)
    clusters = len(node_of_slot) // cluster_slots
    top = Topology(clusters, racks_per_cluster, leaves_per_rack, hosts_per_leaf)
    return Tiling(top, node_of_slot)


@dataclasses.dataclass(frozen=True)
class HostColumns:
    """Per-slot host columns in the simulator's units (capacity 1.0 = the capacity unit);
    cpu_alloc / mem_alloc: what may be allotted (capacity * the env's overcommit ratio)."""

    cpu_capacity: np.ndarray
    mem_capacity: np.ndarray
    cpu_requested: np.ndarray
    mem_requested: np.ndarray
    cpu_usage: np.ndarray
    power_state: np.ndarray
    cpu_alloc: np.ndarray
    mem_alloc: np.ndarray

    def as_tuple(self) -> tuple[np.ndarray, ...]:
        """The first arguments of envs.observations.group_features / host_features, in order."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))


def host_columns(
    table: NodeTable,
    tiling: Tiling,
    cpu_unit: float,
    mem_unit: float,
    cpu_overcommit: float = 1.0,
    mem_overcommit: float = 1.0,
) -> HostColumns:
    """Slot-ordered, unit-normalized columns; padding slots hold zeros (no machine)."""
    idx = tiling.node_of_slot
    real = idx >= 0
    safe = np.where(real, idx, 0)

    def column(values: np.ndarray, unit: float) -> np.ndarray:
        if len(values) == 0:
            return np.zeros(len(idx))
        return np.where(real, values[safe] / unit, 0.0)

    cpu_capacity = column(table.cpu_capacity, cpu_unit)
    mem_capacity = column(table.mem_capacity, mem_unit)
    power = table.power_state[safe] if len(table) else np.full(len(idx), OFF)
    return HostColumns(
        cpu_capacity=cpu_capacity,
        mem_capacity=mem_capacity,
        cpu_requested=column(table.cpu_requested, cpu_unit),
        mem_requested=column(table.mem_requested, mem_unit),
        cpu_usage=column(table.cpu_usage, cpu_unit),
        power_state=np.where(real, power, OFF).astype(np.int8),
        cpu_alloc=cpu_capacity * cpu_overcommit,
        mem_alloc=mem_capacity * mem_overcommit,
    )


def fits(hosts: HostColumns, cpu: float, mem: float) -> np.ndarray:
    """bool[slots]: the host can take the request: the simulator's rule (requests within
    capacity * overcommit, with its rounding tolerance) on a slot that holds a machine."""
    return (
        (hosts.cpu_requested + cpu <= hosts.cpu_alloc + FIT_TOLERANCE)
        & (hosts.mem_requested + mem <= hosts.mem_alloc + FIT_TOLERANCE)
        & (hosts.cpu_capacity > 0)
        & (hosts.mem_capacity > 0)
    )


@dataclasses.dataclass(frozen=True)
class TaskContext:
    """What every level's observation appends after its child blocks."""

    task: np.ndarray  # float[7], envs.observations.task_features of the pod
    context: np.ndarray  # float[3 + F]: time of day, carbon intensity / mean, forecast
    query: PlacementQuery  # the pod's request in capacity units, for the placement features
    can_defer: bool  # the cluster level's defer action is allowed


def task_context(
    pod: PodRequest,
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
    """The pod's task features and the context features; the forecast is zeros, as in the
    simulator before a forecaster sets one. Placement times count from 0 (see `held_until`)."""
    cpu, mem = pod.cpu / cpu_unit, pod.mem / mem_unit
    pending = {
        "cpu": np.array([cpu]),
        "mem": np.array([mem]),
        # The pod's declared run time is all the replica knows (no estimator fed here yet).
        "duration_est_s": np.array([pod.duration_s]),
        "duration_unc": np.zeros(1),
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
        duration_s=np.array([float(pod.duration_s)]),
        now_s=np.zeros(1),
        power_model=power_model,
        boot_delay_s=hosts.boot_delay_s,
        idle_timeout_s=hosts.idle_timeout_s,
    )
    return TaskContext(task, context, query, can_defer)


def held_until(hosts: HostColumns, query: PlacementQuery) -> np.ndarray:
    """When each node may switch off at the earliest (HostCommitments.until in the simulator).
    The cluster does not say when its pods will end, so a node that is on reads as if it had
    just gone idle: held for the idle timeout, and a pod's run time on it is all added time."""
    return np.where(hosts.power_state != OFF, query.idle_timeout_s, -np.inf)


@dataclasses.dataclass
class LevelInputs:
    """Action masks of every row of every level, and observations of the rows that matter: those
    with a feasible action. Rows without one (padding, full leaf groups) never reach a score, so
    the policy is not run on them."""

    mask: dict[str, np.ndarray]  # level -> bool[all rows, num_actions]
    rows: dict[str, np.ndarray]  # level -> int64[rows that matter], indices into mask
    obs: dict[str, np.ndarray]  # level -> float32[rows that matter, obs_dim]

    def observation(self, level: str, row: int) -> np.ndarray:
        """The observation of one row (by its index among all rows of the level)."""
        (position,) = np.flatnonzero(self.rows[level] == row)
        return self.obs[level][position]


def _observations(blocks: np.ndarray, tc: TaskContext) -> np.ndarray:
    rows = blocks.shape[0]
    return assemble(blocks, np.tile(tc.task, (rows, 1)), np.tile(tc.context, (rows, 1)))


def level_inputs(
    hosts: HostColumns, feasible: np.ndarray, top: Topology, tc: TaskContext
) -> LevelInputs:
    """One observation row per virtual cluster (its racks), virtual rack (its leaf groups) and
    leaf group (its hosts), exactly as envs.observations.child_blocks builds them."""
    C, R, L, H = top.num_clusters, top.racks_per_cluster, top.leaves_per_rack, top.hosts_per_leaf
    mask = {
        "cluster": np.concatenate(
            [feasible.reshape(C, R, L * H).any(-1), np.full((C, 1), tc.can_defer)], axis=1
        ),
        "rack": feasible.reshape(C * R, L, H).any(-1),
        "leaf": feasible.reshape(C * R * L, H),
    }
    rows = {level: np.flatnonzero(m.any(axis=1)) for level, m in mask.items()}
    cols = (*hosts.as_tuple(), held_until(hosts, tc.query), feasible)

    def take(shape: tuple[int, ...], level: str) -> list[np.ndarray]:
        return [c.reshape(shape)[rows[level]] for c in cols]

    # The pod's one-row query broadcasts against every row.
    cluster_blocks = group_features(*take((C, R, L * H), "cluster"), tc.query)
    rack_blocks = group_features(*take((C * R, L, H), "rack"), tc.query)
    leaf_blocks = host_features(*take((C * R * L, H), "leaf"), tc.query)
    return LevelInputs(
        mask=mask,
        rows=rows,
        obs={
            "cluster": _observations(cluster_blocks, tc),
            "rack": _observations(rack_blocks, tc),
            "leaf": _observations(leaf_blocks, tc),
        },
    )


@dataclasses.dataclass(frozen=True)
class NodeLayout:
    """A node table laid onto the policy's shape: everything about the candidates that does not
    depend on the pod, so consecutive calls over the same nodes share it."""

    table: NodeTable
    tiling: Tiling
    hosts: HostColumns
    row_of_name: dict[str, int]
    cpu_unit: float
    mem_unit: float


def node_layout(
    table: NodeTable,
    top: Topology,
    units: tuple[float | None, float | None],
    overcommit: tuple[float, float],
) -> NodeLayout:
    """Tile `table` onto `top`'s racks, leaf groups and hosts; capacities in `units` (cpu, memory;
    None: the largest among the nodes)."""
    biggest = (table.cpu_capacity.max(), table.mem_capacity.max()) if len(table) else (1, 1)
    cpu_unit = units[0] or float(biggest[0])
    mem_unit = units[1] or float(biggest[1])
    tiling = tile(table, top.racks_per_cluster, top.leaves_per_rack, top.hosts_per_leaf)
    hosts = host_columns(table, tiling, cpu_unit, mem_unit, *overcommit)
    row_of_name = {name: i for i, name in enumerate(table.names)}
    return NodeLayout(table, tiling, hosts, row_of_name, cpu_unit, mem_unit)
