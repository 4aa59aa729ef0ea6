"""Parsed nodes remembered between calls.

kube-scheduler sends every candidate node with every pod, but a node object rarely changes
between two pods. Every write to an object gives it a new metadata.resourceVersion, so a row is
kept per node name with the resourceVersion it was parsed at: the same version costs a lookup, a
new one is parsed again and replaces the row. When a call lists exactly the nodes and versions of
the previous one (consecutive pods in a quiet cluster) the previous NodeTable is answered as it
is. Objects without a resourceVersion (not from the API server) are parsed on every call. The
same rows answer NodeNames requests (nodeCacheCapable: true), whose table is kept the same way.
"""

import collections
from collections.abc import Callable

import msgspec

from marl_alloc.serving.config import AnnotationConfig, LabelConfig
from marl_alloc.serving.errors import RequestError
from marl_alloc.serving.kube_objects import NodeObject, NodeRow, NodeTable, parse_node
from marl_alloc.serving.protocol import NodeKey

_NODE = msgspec.json.Decoder(NodeObject)


class NodeCache:
    """NodeRows by node name and resourceVersion, at most `size` nodes (least recently seen go),
    and the NodeTable of the last node list."""

    def __init__(self, size: int, labels: LabelConfig, keys: AnnotationConfig):
        self.size = int(size)
        self.labels = labels
        self.keys = keys
        self._rows: collections.OrderedDict[str, tuple[str, NodeRow]] = collections.OrderedDict()
        self._last: tuple[list[tuple[str, str]], NodeTable] | None = None
        self._changes = 0  # rows parsed or forgotten so far: tables built before may be stale
        self._last_named: tuple[list[str], int, NodeTable] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def _parse(self, raw: msgspec.Raw, index: int) -> NodeRow:
        try:
            node = _NODE.decode(raw)
        except msgspec.ValidationError as err:
            raise RequestError(f"ExtenderArgs.Nodes.items[{index}]: {err}") from None
        return parse_node(node, self.labels, self.keys)

    def table(self, keys: list[NodeKey], raw_nodes: Callable[[], list[msgspec.Raw]]) -> NodeTable:
        """The table of these nodes in request order; `raw_nodes()` (the objects as JSON) is
        called only when some node is new or changed."""
        versions = [(key.name, key.resourceVersion) for key in keys]
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
        if self.size <= 0:
            return
        self._changes += 1
        self._rows[name] = (version, row)
        self._rows.move_to_end(name)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def named_table(self, names: list[str]) -> NodeTable:
        """The table of the remembered nodes among `names` (a NodeNames call), in request order;
        the previous one while the names and the remembered rows are the same."""
        last = self._last_named
        if last is not None and last[0] == names and last[1] == self._changes:
            return last[2]
        table = NodeTable.from_rows([row for row in self.lookup(names) if row is not None])
        self._last_named = (list(names), self._changes, table)
        return table

    def lookup(self, names: list[str]) -> list[NodeRow | None]:
        """The remembered row of each name, None for nodes never seen."""
        rows = self._rows
        return [rows[name][1] if name in rows else None for name in names]
