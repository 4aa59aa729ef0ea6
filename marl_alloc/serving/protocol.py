"""The kube-scheduler extender wire format (`k8s.io/kube-scheduler/extender/v1`).

The Go types there carry no json tags, so encoding/json writes the Go field names as they are:
ExtenderArgs {Pod, Nodes, NodeNames}, ExtenderFilterResult {Nodes, NodeNames, FailedNodes,
FailedAndUnresolvableNodes, Error}, HostPriority {Host, Score}. Go decodes keys
case-insensitively, so we read them the same way and always write the exact Go names. The Pod and
the NodeList inside are ordinary Kubernetes objects with their usual camelCase json tags.

Decoding uses msgspec: node objects stay raw JSON until the node cache needs to parse one (then
only the few fields the policy reads are built), and a filter answer echoes the request's node
objects as the bytes they came in.
"""

import dataclasses
from typing import Any

import msgspec

from marl_alloc.serving.errors import RequestError

POD = "Pod"
NODES = "Nodes"
NODE_NAMES = "NodeNames"
FAILED_NODES = "FailedNodes"
FAILED_AND_UNRESOLVABLE_NODES = "FailedAndUnresolvableNodes"
ERROR = "Error"
HOST = "Host"
SCORE = "Score"
MIN_EXTENDER_PRIORITY = 0
MAX_EXTENDER_PRIORITY = 10

_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()
_RAW_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_NAMES = msgspec.json.Decoder(list[str])
_ENCODER = msgspec.json.Encoder()
NULL = msgspec.Raw(b"null")


class _RawNodeList(msgspec.Struct):
    items: list[msgspec.Raw]


class _RawArgs(msgspec.Struct):
    """ExtenderArgs as kube-scheduler writes it; node objects are kept as raw JSON."""

    Pod: msgspec.Raw = NULL  # msgspec.Raw takes no part in unions; absent reads as null
    Nodes: _RawNodeList | None = None
    NodeNames: list[str] | None = None


_ARGS = msgspec.json.Decoder(_RawArgs)


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
    """One filter / prioritize call: the pod and either raw node objects or node names."""

    pod: dict[str, Any]
    raw_nodes: list[msgspec.Raw] | None
    node_names: list[str] | None


def _decode(decoder: msgspec.json.Decoder, raw: bytes, where: str) -> Any:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as err:
        raise RequestError(f"{where}: {err}") from None
    except msgspec.DecodeError as err:
        raise RequestError(f"request body is not JSON: {err}") from None


def _any_case(body: bytes) -> _RawArgs:
    # Go matches field names case-insensitively; kube-scheduler itself writes the exact ones.
    fields = _decode(_FIELDS, body, "ExtenderArgs must be a JSON object")
    args = _RawArgs(Pod=go_field(fields, POD) or NULL)
    nodes, names = go_field(fields, NODES), go_field(fields, NODE_NAMES)
    if nodes is not None and bytes(nodes) != b"null":
        node_list = _decode(_FIELDS, nodes, "ExtenderArgs.Nodes must be a v1.NodeList")
        if "items" not in node_list:
            raise RequestError("ExtenderArgs.Nodes must be a v1.NodeList with an items list")
        args.Nodes = _RawNodeList(_decode(_RAW_ITEMS, node_list["items"], "Nodes.items"))
    elif names is not None:
        args.NodeNames = _decode(_NAMES, names, "ExtenderArgs.NodeNames must list node names")
    return args


def parse_extender_args(body: bytes | str) -> ExtenderArgs:
    """Validate an ExtenderArgs document down to the pod, raw node objects or node names."""
    try:
        args = _ARGS.decode(body)
    except msgspec.ValidationError as err:
        raise RequestError(f"ExtenderArgs: {err}") from None
    except msgspec.DecodeError as err:
        raise RequestError(f"request body is not JSON: {err}") from None
    if bytes(args.Pod) == b"null" or (args.Nodes is None and args.NodeNames is None):
        args = _any_case(body)
    pod = _decode(_ANY, args.Pod, POD)
    if not isinstance(pod, dict):
        raise RequestError("ExtenderArgs.Pod must be a v1.Pod object")
    if args.Nodes is not None:
        return ExtenderArgs(pod, args.Nodes.items, None)
    if args.NodeNames is not None:
        names = args.NodeNames
        if not all(names):
            raise RequestError("ExtenderArgs.NodeNames has an empty name")
        if len(set(names)) != len(names):
            raise RequestError("ExtenderArgs.NodeNames lists a node twice")
        return ExtenderArgs(pod, None, names)
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
    keep = set(passed)
    result: dict[str, Any] = {NODES: None, NODE_NAMES: None}
    if args.raw_nodes is not None:
        items = [raw for raw, name in zip(args.raw_nodes, names, strict=True) if name in keep]
        result[NODES] = {"items": items}
    else:
        result[NODE_NAMES] = [name for name in names if name in keep]
    result[FAILED_NODES] = failed
    result[FAILED_AND_UNRESOLVABLE_NODES] = unresolvable
    result[ERROR] = ""
    return result


def host_priority_list(names: list[str], scores: list[int]) -> list[dict[str, Any]]:
    """HostPriorityList: one {Host, Score} per candidate, in request order."""
    return [{HOST: name, SCORE: int(score)} for name, score in zip(names, scores, strict=True)]


def error_body(message: str) -> dict[str, str]:
    """The JSON body of a 400 answer (the Error field kube-scheduler reads)."""
    return {ERROR: message}


def encode(answer: Any) -> bytes:
    """An answer as JSON bytes (raw node objects are copied as they came)."""
    return _ENCODER.encode(answer)
