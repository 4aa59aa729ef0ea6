"""Lay a Kubernetes cluster's nodes onto the policy's hierarchy.

The policy was trained on clusters of R racks, racks of L leaf groups, leaf groups of H hosts
(the checkpoint's env.topology). Real clusters have any number of zones, racks and nodes, so the
candidate nodes are *tiled* onto that shape:

- nodes are grouped by (zone label, rack label) and sorted by name within a rack;
- each rack's nodes fill leaf groups of H hosts in order, and its leaf groups fill *virtual racks*
  of L leaf groups (the last ones padded);
- each zone's virtual racks fill *virtual clusters* of R racks (the last one padded).

Padding slots are empty host slots as in the simulator (no machine: all zeros, never fit). The
result is a simulator host layout of C virtual clusters (envs.Topology(C, R, L, H)), whose
observations are then built by the simulator's own feature code (marl_alloc.serving.level_obs).

Sorting node names is the costly part, so it is done once per node table (`rack_order`); the
tiling of any subset of its nodes (the candidates of one call) is then a few array operations.
"""

import dataclasses

import numpy as np

from envs.hosts import FIT_TOLERANCE, OFF
from envs.topology import Topology
from marl_alloc.serving.kube_objects import NodeTable


@dataclasses.dataclass(frozen=True)
class Tiling:
    """Which node sits in each host slot of C virtual clusters of the policy's shape."""

    topology: Topology
    node_of_slot: np.ndarray  # int64[num_hosts]; -1 marks a padding slot

    @property
    def real_slots(self) -> np.ndarray:
        """Slot indices that hold a node."""
        return np.flatnonzero(self.node_of_slot >= 0)


@dataclasses.dataclass(frozen=True)
class RackOrder:
    """A table's rows in (zone, rack, name) order, with their zone and (zone, rack) group as
    integers that increase in that order."""

    position: np.ndarray  # int64[rows]: each row's place in the sorted order
    rack: np.ndarray  # int64[rows]: the row's (zone, rack) group
    zone: np.ndarray  # int64[rows]: the row's zone


def rack_order(table: NodeTable) -> RackOrder:
    """The RackOrder of `table`'s rows (names are unique within a table)."""
    n = len(table)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return RackOrder(empty, empty, empty)
    zones, racks = np.asarray(table.zones), np.asarray(table.racks)
    order = np.lexsort((np.asarray(table.names), racks, zones))
    zones, racks = zones[order], racks[order]
    new_zone = np.r_[True, zones[1:] != zones[:-1]]
    new_rack = new_zone | np.r_[True, racks[1:] != racks[:-1]]
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    by_row = np.empty((2, n), np.int64)
    by_row[:, order] = np.cumsum([new_rack, new_zone], axis=1)
    return RackOrder(position, by_row[0], by_row[1])


def _padded(counts: np.ndarray, size: int) -> np.ndarray:
    return -(-counts // size) * size


def tile(
    order: RackOrder,
    candidates: np.ndarray,
    racks_per_cluster: int,
    leaves_per_rack: int,
    hosts_per_leaf: int,
) -> Tiling:
    """The Tiling of the `candidates` rows of a table with this RackOrder (see the module
    docstring)."""
    rack_slots = leaves_per_rack * hosts_per_leaf
    cluster_slots = racks_per_cluster * rack_slots
    rows = np.asarray(candidates, np.int64)
    rows = rows[np.argsort(order.position[rows])]
    n = len(rows)
    if n == 0:
        empty = Topology(0, racks_per_cluster, leaves_per_rack, hosts_per_leaf)
        return Tiling(empty, np.zeros(0, np.int64))
    racks, zones = order.rack[rows], order.zone[rows]
    first = np.flatnonzero(np.r_[True, racks[1:] != racks[:-1]])  # each rack's first node
    rack_of = np.cumsum(np.r_[True, racks[1:] != racks[:-1]]) - 1
    # A rack is its nodes then padding to whole virtual racks ...
    rack_size = _padded(np.diff(np.r_[first, n]), rack_slots)
    rack_zone = zones[first]
    zone_first = np.flatnonzero(np.r_[True, rack_zone[1:] != rack_zone[:-1]])
    zone_of = np.cumsum(np.r_[True, rack_zone[1:] != rack_zone[:-1]]) - 1
    # ... and a zone its racks then padding to whole virtual clusters.
    zone_size = _padded(np.add.reduceat(rack_size, zone_first), cluster_slots)
    zone_start = np.cumsum(zone_size) - zone_size
    before = np.cumsum(rack_size) - rack_size  # slots of the racks before, in all zones
    rack_start = zone_start[zone_of] + before - before[zone_first][zone_of]
    node_of_slot = np.full(int(zone_size.sum()), -1, np.int64)
    node_of_slot[rack_start[rack_of] + np.arange(n) - first[rack_of]] = rows
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
