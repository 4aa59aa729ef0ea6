"""The candidates of a call laid onto the policy's shape, kept from call to call.

Consecutive calls name mostly the same nodes (in any order: kube-scheduler checks nodes in
parallel) over a node table that changes a few rows at a time (a node's annotations after a
binding). So the layout is rebuilt only as far as something changed: the table's rack order (the
name sort) survives while no node joins, leaves or moves between racks, the tiling while the
candidates stay the same too, and the host columns are read again only from a changed table.
"""

import dataclasses

import numpy as np

from envs.topology import Topology
from marl_alloc.serving.hierarchy import (
    HostColumns,
    RackOrder,
    Tiling,
    host_columns,
    rack_order,
    tile,
)
from marl_alloc.serving.kube_objects import NodeTable


@dataclasses.dataclass(frozen=True)
class NodeLayout:
    """Everything about a call's candidates that does not depend on the pod."""

    table: NodeTable
    candidates: np.ndarray  # int64, ascending: the table rows that are candidates
    order: RackOrder
    tiling: Tiling
    hosts: HostColumns
    cpu_unit: float
    mem_unit: float


class LayoutCache:
    """The last NodeLayout, and how to make the next one from it (see the module docstring)."""

    def __init__(
        self,
        topology: Topology,
        units: tuple[float | None, float | None],
        overcommit: tuple[float, float],
    ):
        self.topology = topology
        self.units = units  # (cpu, memory); None: the largest among the candidates
        self.overcommit = overcommit
        self._last: NodeLayout | None = None

    def layout(self, table: NodeTable, candidates: np.ndarray) -> NodeLayout:
        """The layout of `table`'s `candidates` rows (ascending)."""
        last = self._last
        same_nodes = last is not None and np.array_equal(last.candidates, candidates)
        if same_nodes and last.table is table:
            return last
        # NodeTable.patched keeps the key lists while no row's name, zone or rack changes.
        same_keys = last is not None and (
            last.table.names is table.names
            and last.table.zones is table.zones
            and last.table.racks is table.racks
        )
        order = last.order if same_keys else rack_order(table)
        if same_keys and same_nodes:
            tiling = last.tiling
        else:
            top = self.topology
            tiling = tile(
                order, candidates, top.racks_per_cluster, top.leaves_per_rack, top.hosts_per_leaf
            )
        cpu_unit, mem_unit = self.units
        if len(candidates):
            cpu_unit = cpu_unit or float(table.cpu_capacity[candidates].max())
            mem_unit = mem_unit or float(table.mem_capacity[candidates].max())
        cpu_unit, mem_unit = cpu_unit or 1.0, mem_unit or 1.0
        hosts = host_columns(table, tiling, cpu_unit, mem_unit, *self.overcommit)
        self._last = NodeLayout(table, candidates, order, tiling, hosts, cpu_unit, mem_unit)
        return self._last
