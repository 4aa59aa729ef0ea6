"""Parsed nodes remembered between calls.

kube-scheduler sends every candidate node with every pod, but a node object rarely changes
between two pods (its status is reported every few minutes; the load annotations as often as the
sync job writes them). Rows are kept per node name together with the exact JSON they were parsed
from: an identical object costs a dictionary lookup, a changed one is parsed again and replaces
the old row. The same rows answer NodeNames requests (nodeCacheCapable: true).
"""

import collections
import zlib

import msgspec

from marl_alloc.serving.config import AnnotationConfig, LabelConfig
from marl_alloc.serving.errors import RequestError
from marl_alloc.serving.kube_objects import NodeObject, NodeRow, parse_node

_NODE = msgspec.json.Decoder(NodeObject)


class NodeCache:
    """NodeRows by node name and by their JSON, at most `size` nodes (least recently seen go)."""

    def __init__(self, size: int, labels: LabelConfig, keys: AnnotationConfig):
        self.size = int(size)
        self.labels = labels
        self.keys = keys
        # Keyed by CRC-32 of the JSON (cheaper than hashing the bytes), confirmed by comparing.
        self._by_crc: dict[int, tuple[bytes, NodeRow]] = {}
        self._crc_of: collections.OrderedDict[str, int] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._crc_of)

    def _parse(self, raw: bytes, index: int) -> NodeRow:
        try:
            node = _NODE.decode(raw)
        except msgspec.ValidationError as err:
            raise RequestError(f"ExtenderArgs.Nodes.items[{index}]: {err}") from None
        if not node.metadata.name:
            raise RequestError(f"ExtenderArgs.Nodes.items[{index}] has no metadata.name")
        return parse_node(node, self.labels, self.keys)

    def rows(self, raw_nodes: list[msgspec.Raw]) -> list[NodeRow]:
        """Rows of these node objects (parsed only where new or changed), remembered."""
        rows = []
        by_crc = self._by_crc
        for index, item in enumerate(raw_nodes):
            crc = zlib.crc32(item)
            raw = bytes(item)
            hit = by_crc.get(crc)
            if hit is not None and hit[0] == raw:
                row = hit[1]
                self._crc_of.move_to_end(row.name)
            else:
                row = self._parse(raw, index)
                self._remember(row, raw, crc)
            rows.append(row)
        return rows

    def _remember(self, row: NodeRow, raw: bytes, crc: int) -> None:
        if self.size <= 0:
            return
        old = self._crc_of.pop(row.name, None)
        if old is not None:
            self._by_crc.pop(old, None)
        if crc in self._by_crc:  # a CRC collision or the same JSON under two names: keep both out
            return
        self._crc_of[row.name] = crc
        self._by_crc[crc] = (raw, row)
        while len(self._crc_of) > self.size:
            _, evicted = self._crc_of.popitem(last=False)
            self._by_crc.pop(evicted, None)

    def lookup(self, names: list[str]) -> list[NodeRow | None]:
        """The remembered row of each name, None for nodes never seen."""
        return [
            self._by_crc[self._crc_of[name]][1] if name in self._crc_of else None for name in names
        ]
