"""Parsed nodes remembered between calls.

kube-scheduler sends every candidate node with every pod, but a node object rarely changes
between two pods. Every write to an object gives it a new metadata.resourceVersion, so a row is
kept per node name with the resourceVersion it was parsed at: the same version costs a lookup, a
new one is parsed again and replaces the row. When a call lists exactly the nodes and versions of
the previous one (consecutive pods in a quiet cluster) the previous NodeTable is answered as it
is. Objects without a resourceVersion (not from the API server) are parsed on every call.

NodeNames requests (nodeCacheCapable: true) are answered from `cluster_view`: one table of every
remembered node, kept from call to call and patched where rows changed (a node's annotations
after a binding); it is built again only when nodes come or go.

With serve.node_source=watch an Informer writes the rows from the API server's list and watch
(`put`, `delete`, `replace`) in its own thread; a lock keeps its writes and the requests' reads
apart. Such a cache has no size limit: the watch, not recency, says which nodes exist.
"""

import collections
import logging
import threading
from collections.abc import Callable

import msgspec
import numpy as np

from marl_alloc.serving.config import AnnotationConfig, LabelConfig
from marl_alloc.serving.errors import RequestError
from marl_alloc.serving.kube_api import WatchEvent
from marl_alloc.serving.kube_objects import NodeObject, NodeRow, NodeTable, parse_node
from marl_alloc.serving.protocol import NodeKey

_NODE = msgspec.json.Decoder(NodeObject)
logger = logging.getLogger(__name__)


class NodeCache:
    """NodeRows by node name and resourceVersion, at most `size` nodes (least recently seen go),
    and the NodeTable of the last node list."""

    def __init__(self, size: int | None, labels: LabelConfig, keys: AnnotationConfig):
        self.size = None if size is None else int(size)
        self.labels = labels
        self.keys = keys
        self._rows: collections.OrderedDict[str, tuple[str, NodeRow]] = collections.OrderedDict()
        self._last: tuple[list[tuple[str, str]], NodeTable] | None = None
        # cluster_view's table, each name's row in it, the names changed since it was built,
        # whether nodes came or went since, and the last NodeNames call's rows.
        self._cluster: NodeTable | None = None
        self._cluster_row: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._members_changed = True
        self._last_names: tuple[list[str], np.ndarray] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def _parse(self, raw: msgspec.Raw | bytes, index: int) -> NodeRow:
        try:
            node = _NODE.decode(raw)
        except msgspec.ValidationError as err:
            raise RequestError(f"ExtenderArgs.Nodes.items[{index}]: {err}") from None
        return parse_node(node, self.labels, self.keys)

    def table(self, keys: list[NodeKey], raw_nodes: Callable[[], list[msgspec.Raw]]) -> NodeTable:
        """The table of these nodes in request order; `raw_nodes()` (the objects as JSON) is
        called only when some node is new or changed."""
        versions = [(key.name, key.resourceVersion) for key in keys]
        with self._lock:
            return self._table(versions, raw_nodes)

    def _table(
        self, versions: list[tuple[str, str]], raw_nodes: Callable[[], list[msgspec.Raw]]
    ) -> NodeTable:
        if self._last is not None and self._last[0] == versions:
            return self._last[1]
        rows, raws = [], None
        for index, (name, version) in enumerate(versions):
            hit = self._rows.get(name)
            if version and hit is not None and hit[0] == version:
                self._rows.move_to_end(name)
                rows.append(hit[1])
                continue
            raws = raws if raws is not None else raw_nodes()
            row = self._parse(raws[index], index)
            self._remember(name, version, row)
            rows.append(row)
        if len(rows) != len({row.name for row in rows}):
            raise RequestError("ExtenderArgs.Nodes lists a node twice")
        table = NodeTable.from_rows(rows)
        cacheable = all(version for _, version in versions)
        self._last = (versions, table) if cacheable else None
        return table

    def _remember(self, name: str, version: str, row: NodeRow) -> None:
        if self.size is not None and self.size <= 0:
            return
        old = self._rows.get(name)
        # A status heartbeat moves the version but rarely the row: the tables built stay valid.
        if old is None:
            self._members_changed = True
        elif old[1] != row:
            self._dirty.add(name)
        self._rows[name] = (version, row)
        self._rows.move_to_end(name)
        while self.size is not None and len(self._rows) > self.size:
            self._rows.popitem(last=False)
            self._members_changed = True

    def put(self, name: str, version: str, raw: bytes) -> None:
        """Remember (or replace) one node from its v1.Node JSON, as a watch event carries it."""
        row = self._parse(raw, 0)
        with self._lock:
            hit = self._rows.get(name)
            if hit is None or hit[0] != version or not version:
                self._remember(name, version, row)

    def delete(self, name: str) -> None:
        """Forget one node (a watch DELETED event)."""
        with self._lock:
            if self._rows.pop(name, None) is not None:
                self._members_changed = True

    def apply(self, event: WatchEvent) -> None:
        """One watch event: ADDED or MODIFIED puts the node, DELETED forgets it."""
        if event.type == "DELETED":
            self.delete(event.name)
        else:
            self.put(event.name, event.resource_version, event.object)

    def replace(self, nodes: list[tuple[str, str, bytes]]) -> None:
        """Hold exactly these (name, resourceVersion, v1.Node JSON) nodes: a fresh list."""
        listed = {name for name, _, _ in nodes}
        rows = []
        for index, (name, version, raw) in enumerate(nodes):
            try:
                rows.append((name, version, self._parse(raw, index)))
            except RequestError as err:
                # One odd node must not keep the others out of the cache.
                logger.warning("node list: skipping node %s: %s", name, err)
        with self._lock:
            for name in [name for name in self._rows if name not in listed]:
                del self._rows[name]
                self._members_changed = True
            for name, version, row in rows:
                self._remember(name, version, row)

    def names(self) -> set[str]:
        """The names of the remembered nodes."""
        with self._lock:
            return set(self._rows)

    def cluster_table(self) -> NodeTable:
        """The table of every remembered node (the one `cluster_view` answers with)."""
        with self._lock:
            return self._cluster_table()

    def _cluster_table(self) -> NodeTable:
        if self._members_changed or self._cluster is None:
            rows = [row for _, row in self._rows.values()]
            self._cluster = NodeTable.from_rows(rows)
            self._cluster_row = {row.name: i for i, row in enumerate(rows)}
            self._members_changed, self._last_names = False, None
        elif self._dirty:
            at = self._cluster_row
            changes = {at[name]: self._rows[name][1] for name in self._dirty}
            self._cluster = self._cluster.patched(changes)
        self._dirty.clear()
        return self._cluster

    def cluster_view(self, names: list[str]) -> tuple[NodeTable, np.ndarray]:
        """(the table of every remembered node, the row of each of `names` in it, -1 for nodes
        never seen): a NodeNames call's nodes (see the module docstring)."""
        with self._lock:
            self._cluster_table()
            last = self._last_names
            if last is None or last[0] != names:
                at = self._cluster_row
                rows = np.fromiter((at.get(name, -1) for name in names), np.int64, len(names))
                self._last_names = last = (list(names), rows)
            return self._cluster, last[1]

    def lookup(self, names: list[str]) -> list[NodeRow | None]:
        """The remembered row of each name, None for nodes never seen."""
        with self._lock:
            return self._lookup(names)

    def _lookup(self, names: list[str]) -> list[NodeRow | None]:
        rows = self._rows
        return [rows[name][1] if name in rows else None for name in names]
