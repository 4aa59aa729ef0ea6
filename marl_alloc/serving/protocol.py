"""The kube-scheduler extender wire format (`k8s.io/kube-scheduler/extender/v1`).

The Go types there carry no json tags, so encoding/json writes the Go field names as they are:
ExtenderArgs {Pod, Nodes, NodeNames}, ExtenderFilterResult {Nodes, NodeNames, FailedNodes,
FailedAndUnresolvableNodes, Error}, HostPriority {Host, Score}, ExtenderBindingArgs {PodName,
PodNamespace, PodUID, Node}, ExtenderBindingResult {Error}. Go decodes keys
case-insensitively, so we read them the same way and always write the exact Go names. The Pod and
the NodeList inside are ordinary Kubernetes objects with their usual camelCase json tags.

Decoding uses msgspec in typed passes that build only what is read: first the pod and each node's
name and resourceVersion (the node cache's key); the node objects as raw JSON only when a node is
new or changed, or a filter answer echoes them back as the bytes they came in.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from marl_alloc.serving.errors import RequestError, bounded

POD = "Pod"
NODES = "Nodes"
NODE_NAMES = "NodeNames"
FAILED_NODES = "FailedNodes"
FAILED_AND_UNRESOLVABLE_NODES = "FailedAndUnresolvableNodes"
ERROR = "Error"
MIN_EXTENDER_PRIORITY = 0
MAX_EXTENDER_PRIORITY = 10

NULL = msgspec.Raw(b"null")


class NodeKey(msgspec.Struct):
    """A node object's identity and version: metadata.name and metadata.resourceVersion."""

    name: str = ""
    resourceVersion: str = ""


class _NodeHead(msgspec.Struct):
    metadata: NodeKey = msgspec.field(default_factory=NodeKey)


class _HeadList(msgspec.Struct):
    items: list[_NodeHead]


class _RawNodeList(msgspec.Struct):
    items: list[msgspec.Raw]


class _HeadArgs(msgspec.Struct):
    """ExtenderArgs as kube-scheduler writes it, nodes down to their keys."""

    Pod: msgspec.Raw = NULL  # msgspec.Raw takes no part in unions; absent reads as null
    Nodes: _HeadList | None = None
    NodeNames: msgspec.Raw = NULL  # decoded by NodeNamesMemo


class _RawNodesArgs(msgspec.Struct):
    Nodes: _RawNodeList | None = None


_HEADS = msgspec.json.Decoder(_HeadArgs)
_RAW_NODES = msgspec.json.Decoder(_RawNodesArgs)
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()
_HEAD_LIST = msgspec.json.Decoder(_HeadList)
_RAW_LIST = msgspec.json.Decoder(_RawNodeList)
_NAMES = msgspec.json.Decoder(list[str])
_ENCODER = msgspec.json.Encoder()


def go_field(obj: dict[str, Any], name: str) -> Any:
    """obj[name] matched as Go's encoding/json does: exact key first, else case-insensitively."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return value
    return None


@dataclasses.dataclass
class ExtenderArgs:
    """One filter / prioritize call: the pod and either node keys or node names. The node
    objects themselves (`raw_nodes`) are decoded on first use."""

    pod: dict[str, Any]
    node_keys: list[NodeKey] | None
    node_names: list[str] | None
    decode_raw_nodes: Callable[[], list[msgspec.Raw]] | None = None

    @functools.cached_property
    def raw_nodes(self) -> list[msgspec.Raw] | None:
        """The NodeList's items as the JSON they came in (None for a NodeNames call)."""
        return None if self.decode_raw_nodes is None else self.decode_raw_nodes()

    @property
    def names(self) -> list[str]:
        """Candidate node names in request order."""
        if self.node_keys is not None:
            return [key.name for key in self.node_keys]
        return list(self.node_names or [])


def _decode(decoder: msgspec.json.Decoder, raw: bytes, where: str) -> Any:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as err:
        raise RequestError(f"{where}: {err}") from None
    except msgspec.DecodeError as err:
        raise RequestError(f"request body is not JSON: {err}") from None


def _any_case(body: bytes) -> tuple[msgspec.Raw, msgspec.Raw | None, msgspec.Raw]:
    """(Pod, Nodes, NodeNames) with Go's case-insensitive field names (kube-scheduler itself
    writes the exact ones)."""
    fields = _decode(_FIELDS, body, "ExtenderArgs must be a JSON object")
    nodes, names = go_field(fields, NODES), go_field(fields, NODE_NAMES)
    if nodes is not None and bytes(nodes) == b"null":
        nodes = None
    return go_field(fields, POD) or NULL, nodes, NULL if nodes is not None else names or NULL


class NodeNamesMemo:
    """The last NodeNames list decoded and checked. kube-scheduler sends the same list pod after
    pod (every node that passed the other filters), and decoding and checking 5,000 names is a
    tenth of a call's work: a list that is byte for byte the last one is answered with the same
    list object (which no one changes)."""

    def __init__(self):
        self._last: tuple[bytes, list[str]] = (b"[]", [])

    def names(self, raw: msgspec.Raw | bytes) -> list[str]:
        """The node names of a NodeNames JSON array; RequestError unless it lists distinct,
        non-empty names."""
        data = bytes(raw)
        last = self._last
        if data == last[0]:
            return last[1]
        names = _decode(_NAMES, data, "ExtenderArgs.NodeNames must list node names")
        if not all(names):
            raise RequestError("ExtenderArgs.NodeNames has an empty name")
        if len(set(names)) != len(names):
            raise RequestError("ExtenderArgs.NodeNames lists a node twice")
        self._last = (data, names)
        return names


def _node_keys(items: list[_NodeHead]) -> list[NodeKey]:
    keys = [item.metadata for item in items]
    for index, key in enumerate(keys):
        if not key.name:
            raise RequestError(f"ExtenderArgs.Nodes.items[{index}] has no metadata.name")
    return keys


def parse_extender_args(body: bytes | str, memo: NodeNamesMemo | None = None) -> ExtenderArgs:
    """Validate an ExtenderArgs document down to the pod and node keys, or node names (through
    `memo` when one is given)."""
    head = _decode(_HEADS, body, "ExtenderArgs")
    has_names = bytes(head.NodeNames) != b"null"
    if bytes(head.Pod) != b"null" and (head.Nodes is not None or has_names):
        pod_raw, names = head.Pod, head.NodeNames
        heads = None if head.Nodes is None else head.Nodes.items

        def decode_raw_nodes() -> list[msgspec.Raw]:
            return _RAW_NODES.decode(body).Nodes.items

    else:
        pod_raw, nodes_raw, names = _any_case(body)
        heads = None
        if nodes_raw is not None:
            where = "ExtenderArgs.Nodes must be a v1.NodeList with an items list"
            heads = _decode(_HEAD_LIST, nodes_raw, where).items

            def decode_raw_nodes() -> list[msgspec.Raw]:
                return _RAW_LIST.decode(nodes_raw).items

    pod = _decode(_ANY, pod_raw, POD)
    if not isinstance(pod, dict):
        raise RequestError("ExtenderArgs.Pod must be a v1.Pod object")
    if heads is not None:
        return ExtenderArgs(pod, _node_keys(heads), None, decode_raw_nodes)
    if bytes(names) != b"null":
        return ExtenderArgs(pod, None, (memo or NodeNamesMemo()).names(names))
    raise RequestError("ExtenderArgs needs Nodes (v1.NodeList) or NodeNames")


def filter_result(
    args: ExtenderArgs,
    names: list[str],
    passed: list[str],
    failed: dict[str, str],
    unresolvable: dict[str, str],
) -> dict[str, Any]:
    """ExtenderFilterResult in the shape of the request: the passing node objects echoed back
    (as the NodeList's items, byte for byte), or their names."""
    # Usually every node passes: then the request's lists are the answer's, no set needed.
    everyone = len(passed) == len(names)
    keep = None if everyone else set(passed)
    result: dict[str, Any] = {NODES: None, NODE_NAMES: None}
    if args.raw_nodes is not None:
        items = args.raw_nodes
        if not everyone:
            items = [raw for raw, name in zip(items, names, strict=True) if name in keep]
        result[NODES] = {"items": items}
    else:
        result[NODE_NAMES] = names if everyone else [name for name in names if name in keep]
    result[FAILED_NODES] = failed
    result[FAILED_AND_UNRESOLVABLE_NODES] = unresolvable
    result[ERROR] = ""
    return result


class HostPriorities:
    """HostPriorityList JSON ([{"Host": name, "Score": n}, ...] in request order) for one call
    after another. Writing 5,000 entries one by one is most of an answer's cost, and the names
    come back pod after pod (NodeNamesMemo): so the JSON around the scores is kept for the last
    list of names and only the score digits are written into a copy of it."""

    def __init__(self):
        self._names: list[str] | None = None
        self._template = np.frombuffer(b"[]", np.uint8)
        self._digit_at = np.zeros(0, np.int64)

    def encode(self, names: list[str], scores: np.ndarray) -> bytes:
        """The HostPriorityList of `names` with these scores (0..10), as JSON bytes."""
        scores = np.asarray(scores, np.int64)
        low, high = MIN_EXTENDER_PRIORITY, MAX_EXTENDER_PRIORITY
        if len(scores) and (scores.min() < low or scores.max() > high):
            raise ValueError(f"extender scores must be {low}..{high}")
        if names != self._names:  # list equality: by identity first, so the same list is fast
            self._keep(names)
        out = self._template.copy()
        out[self._digit_at] = ord("0") + scores % 10
        tens = np.flatnonzero(scores >= 10)
        if len(tens):  # a 10: its tens digit in the slot, its unit digit inserted after it
            out[self._digit_at[tens]] = ord("0") + scores[tens] // 10
            out = np.insert(out, self._digit_at[tens] + 1, ord("0") + scores[tens] % 10)
        return out.tobytes()

    def _keep(self, names: list[str]) -> None:
        heads = [b'{"Host":' + _ENCODER.encode(name) + b',"Score":' for name in names]
        # Entry i is heads[i], a one-digit score and "}", then "," or the closing "]".
        lengths = np.fromiter(map(len, heads), np.int64, len(heads))
        starts = 1 + np.cumsum(lengths + 3) - (lengths + 3)
        self._digit_at = starts + lengths
        self._template = np.frombuffer(
            b"[" + b"0},".join(heads) + (b"0}]" if heads else b"]"), np.uint8
        )
        self._names = list(names)


class BindingArgs(msgspec.Struct):
    """ExtenderBindingArgs: bind this pod to this node."""

    PodName: str
    PodNamespace: str
    Node: str
    PodUID: str = ""


_BINDING = msgspec.json.Decoder(BindingArgs)


def parse_binding_args(body: bytes | str) -> BindingArgs:
    """Validate an ExtenderBindingArgs document (exact Go field names, as kube-scheduler writes)."""
    args = _decode(_BINDING, body, "ExtenderBindingArgs")
    for field in ("PodName", "PodNamespace", "Node"):
        if not getattr(args, field):
            raise RequestError(f"ExtenderBindingArgs.{field} is empty")
    return args


def binding_result(error: str = "") -> dict[str, str]:
    """ExtenderBindingResult: an empty Error when the pod is bound."""
    return {ERROR: bounded(error)}


def error_body(message: str) -> dict[str, str]:
    """The JSON body of a 4xx answer (the Error field kube-scheduler reads), bounded."""
    return {ERROR: bounded(message)}


def encode(answer: Any) -> bytes:
    """An answer as JSON bytes (raw node objects are copied as they came)."""
    return _ENCODER.encode(answer)
