"""ClusterDemand: the whole cluster's per-leaf-group demand in closed bins, kept by the
simulator's own DemandHistory (envs.demand_history: the same 6 columns, scaling and bin edges),
so the policy's forecaster reads in the extender what it read in training.

Leaf groups: every node the node cache holds, laid onto the policy's shape by the tiling a
call's candidates get (marl_alloc.serving.layout), so a call over all nodes has exactly these
leaf groups. CPU and memory requested: the nodes' load annotations, each reading held from one
`advance` to the next (the replica advances about once a second). Arrivals: pods bound through
the bind verb, at their binding; departures: finished pods (serve.watch_finished_pods), at their
end. An event reported after its bin closed counts in the open bin (a bin is never reopened);
one from before the history began is not counted. When nodes join, leave or move, the leaf
groups are other groups: the history starts again.
"""

import threading

import numpy as np

from envs.demand_history import ARRIVALS, DEPARTURES, DemandHistory
from marl_alloc.serving.hierarchy import HostColumns
from marl_alloc.serving.layout import LayoutCache, NodeLayout
from marl_alloc.serving.node_cache import NodeCache


def _batch_of_one(hosts: HostColumns) -> HostColumns:
    """The slot columns as a batch of one datacenter ([1, slots]), as DemandHistory reads hosts."""
    return HostColumns(*(column[None] for column in hosts.as_tuple()))


class ClusterDemand:
    """The demand history of the cluster the node cache holds (see the module docstring)."""

    def __init__(self, nodes: NodeCache, layouts: LayoutCache, resolution_s: float, keep_bins: int):
        self.nodes = nodes
        self.layouts = layouts  # the cluster's own: never a call's
        self.resolution_s = float(resolution_s)
        self.keep_bins = int(keep_bins)
        self.history: DemandHistory | None = None
        self.layout: NodeLayout | None = None
        self.slot_of: dict[str, int] = {}  # node name -> its host slot in the history's layout
        self.started_s: float | None = None
        self.now_s: float | None = None
        self.generation = 0  # histories started (nodes joined, left or moved in between)
        self.counted = {"arrivals": 0, "departures": 0}
        self._events: list[tuple[float, str, int]] = []
        self._lock = threading.Lock()

    def arrival(self, node: str, at_s: float) -> None:
        """A pod was bound to `node` at `at_s`."""
        with self._lock:
            self._events.append((float(at_s), node, ARRIVALS))

    def departure(self, node: str, at_s: float) -> None:
        """A pod on `node` ended at `at_s`."""
        with self._lock:
            self._events.append((float(at_s), node, DEPARTURES))

    @property
    def bins_closed(self) -> int:
        """Bins closed since the history (re)started."""
        return 0 if self.history is None else int(self.history.closed[0])

    def advance(self, now_s: float) -> None:
        """Integrate the held requests and the events up to `now_s`, closing every bin that
        ended by then; start again when the leaf groups changed."""
        table = self.nodes.cluster_table()
        layout = self.layouts.layout(table, np.arange(len(table)))
        with self._lock:
            events, self._events = sorted(self._events), []
        if self.history is not None and now_s > self.now_s:
            held = _batch_of_one(self.layout.hosts)
            for at_s, node, column in events:
                slot = self.slot_of.get(node)
                if slot is None or at_s < self.started_s:
                    continue
                at_s = min(max(at_s, self.now_s), now_s)
                self._integrate(held, at_s)
                self.history.count(np.zeros(1, np.int64), np.array([slot]), column)
                self.counted["arrivals" if column == ARRIVALS else "departures"] += 1
            self._integrate(held, now_s)
        if self.layout is None or not _same_groups(self.layout, layout):
            self._restart(layout, now_s)
        self.layout = layout

    def _integrate(self, held: HostColumns, to_s: float) -> None:
        if to_s > self.now_s:
            self.history.integrate(held, np.array([self.now_s]), np.array([to_s]))
            self.now_s = to_s

    def _restart(self, layout: NodeLayout, now_s: float) -> None:
        tiling = layout.tiling
        if tiling.topology.num_hosts == 0:  # no nodes yet: nothing to keep
            self.history, self.slot_of = None, {}
            return
        self.generation += 1
        real = tiling.real_slots
        names = layout.table.names
        rows = tiling.node_of_slot[real]
        self.slot_of = {names[row]: int(slot) for slot, row in zip(real, rows, strict=True)}
        hosts, start = _batch_of_one(layout.hosts), np.array([now_s])
        bins = (self.resolution_s, self.keep_bins)
        self.history = DemandHistory(tiling.topology, hosts, start, *bins)
        self.started_s = self.now_s = float(now_s)

    def bin_end_s(self) -> float:
        """When the last closed bin ended (the history's start before the first)."""
        return float(self.history.bin_start_s[0])


def _same_groups(old: NodeLayout, new: NodeLayout) -> bool:
    """Whether every host slot holds the same node (and capacity) in both layouts."""
    if old.tiling is new.tiling and old.table.names is new.table.names:
        same_nodes = True
    else:
        a, b = old.tiling.node_of_slot, new.tiling.node_of_slot
        same_nodes = old.tiling.topology == new.tiling.topology and np.array_equal(a < 0, b < 0)
        if same_nodes:
            names_a = [old.table.names[i] for i in a[a >= 0]]
            same_nodes = names_a == [new.table.names[i] for i in b[b >= 0]]
    # The history's capacities are fixed when it starts: a resized node starts it again.
    return (
        same_nodes
        and np.array_equal(old.hosts.cpu_capacity, new.hosts.cpu_capacity)
        and np.array_equal(old.hosts.mem_capacity, new.hosts.mem_capacity)
    )
