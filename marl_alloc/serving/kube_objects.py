"""Kubernetes Node and Pod objects -> the columns the simulator's observations are built from.

Nodes: capacity from status.allocatable (else status.capacity); zone and rack from labels; the
load a node carries from annotations (Node objects do not list their pods): requested cpu/memory
and cpu usage as quantities, power state on|booting|off (else the Ready condition).
Pods: the effective request as kube-scheduler computes it (containers summed, init containers
as a maximum, sidecars added, pod overhead added), priority class from spec.priority, and the
deferrable flag and defers so far from annotations. A pod's run time is never read from it: the
policy assumes what marl_alloc.serving.pod_durations believes, as the simulator's did.
"""

import dataclasses
import datetime as dt
import math
from typing import Any, NamedTuple

import msgspec
import numpy as np

from envs.hosts import BOOTING, OFF, ON
from marl_alloc.serving.config import AnnotationConfig, LabelConfig, PodConfig
from marl_alloc.serving.errors import RequestError, shown
from marl_alloc.serving.quantities import QuantityError, parse_quantity

POWER_STATES = {"on": ON, "booting": BOOTING, "off": OFF}
TRUE_WORDS = ("true", "1", "yes")
Quantity = str | int | float


class ObjectMeta(msgspec.Struct):
    """The v1.ObjectMeta fields the extender reads (the rest is skipped when decoding)."""

    name: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class NodeCondition(msgspec.Struct):
    """v1.NodeCondition: type and status."""

    type: str = ""
    status: str = ""


class NodeStatus(msgspec.Struct):
    """v1.NodeStatus: resources and conditions."""

    allocatable: dict[str, Quantity] = {}
    capacity: dict[str, Quantity] = {}
    conditions: list[NodeCondition] = []


class NodeObject(msgspec.Struct):
    """A v1.Node as far as the extender reads it."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class NodeRow(NamedTuple):
    """One node's topology and load in base units (cores, bytes)."""

    name: str
    zone: str
    rack: str
    cpu_capacity: float
    mem_capacity: float
    cpu_requested: float
    mem_requested: float
    cpu_usage: float
    power_state: int


@dataclasses.dataclass
class NodeTable:
    """Nodes as columns: a call's candidates in request order, or every node a cache holds."""

    names: list[str]
    zones: list[str]
    racks: list[str]
    cpu_capacity: np.ndarray
    mem_capacity: np.ndarray
    cpu_requested: np.ndarray
    mem_requested: np.ndarray
    cpu_usage: np.ndarray
    power_state: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[NodeRow]) -> "NodeTable":
        """Stack rows into columns."""
        if not rows:
            rows_t: list[tuple] = [()] * len(NodeRow._fields)
        else:
            rows_t = list(zip(*rows, strict=True))
        floats = [np.asarray(c, np.float64) for c in rows_t[3:8]]
        return cls(
            list(rows_t[0]),
            list(rows_t[1]),
            list(rows_t[2]),
            *floats,
            power_state=np.asarray(rows_t[8], np.int8),
        )

    def __len__(self) -> int:
        return len(self.names)

    def patched(self, changes: dict[int, NodeRow]) -> "NodeTable":
        """A copy with some rows replaced (same names). The name, zone and rack lists are this
        table's own while no replaced row moves to another zone or rack, which tells a layout
        that its tiling still holds."""
        rows = np.fromiter(changes, np.int64, len(changes))
        new = list(changes.values())
        zones, racks = self.zones, self.racks
        if any((zones[i], racks[i]) != (row.zone, row.rack) for i, row in changes.items()):
            zones, racks = list(zones), list(racks)
            for i, row in changes.items():
                zones[i], racks[i] = row.zone, row.rack
        columns = []
        for k, name in enumerate(NodeRow._fields[3:], start=3):
            column = getattr(self, name).copy()
            column[rows] = [row[k] for row in new]
            columns.append(column)
        return NodeTable(self.names, zones, racks, *columns)


@dataclasses.dataclass(frozen=True)
class PodRequest:
    """The pod as a simulator task: resources in base units plus scheduling hints."""

    name: str
    namespace: str
    cpu: float
    mem: float
    priority: int  # task priority class, 0..max_priority
    deferrable: bool
    defers: int
    created_s: float | None  # Unix seconds of metadata.creationTimestamp
    workload: str = ""  # workload_of: whose finished pods' run times tell about this one


def _quantity(value: Any, where: str) -> float:
    try:
        amount = parse_quantity(value)
    except QuantityError as err:
        raise RequestError(f"{where}: {err}") from None
    if not math.isfinite(amount) or amount < 0:
        raise RequestError(f"{where}: must be a finite quantity >= 0, got {shown(value)}")
    return amount


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be an object")
    return value


def _power_state(node: NodeObject, annotations: dict[str, str], key: str, where: str) -> int:
    if key in annotations:
        state = annotations[key].strip().lower()
        if state not in POWER_STATES:
            raise RequestError(f"{where} annotation {key} must be one of on, booting, off")
        return POWER_STATES[state]
    for condition in node.status.conditions:
        if condition.type == "Ready":
            return ON if condition.status == "True" else OFF
    return ON  # no conditions reported: kube-scheduler only sends nodes it considers usable


def parse_node(
    node: NodeObject | dict[str, Any], labels: LabelConfig, keys: AnnotationConfig
) -> NodeRow:
    """One v1.Node as a NodeRow; RequestError names the node and field that is wrong."""
    if isinstance(node, dict):
        try:
            node = msgspec.convert(node, NodeObject)
        except msgspec.ValidationError as err:
            name = (node.get("metadata") or {}).get("name") if isinstance(node, dict) else None
            raise RequestError(f"node '{shown(name)}': {err}") from None
    meta, status = node.metadata, node.status
    where = f"node '{shown(meta.name)}'"
    notes = meta.annotations
    resources = status.allocatable or status.capacity
    if "cpu" not in resources or "memory" not in resources:
        raise RequestError(f"{where} has no status.allocatable (or capacity) cpu and memory")
    cpu = _quantity(resources["cpu"], f"{where} allocatable cpu")
    mem = _quantity(resources["memory"], f"{where} allocatable memory")
    if cpu <= 0 or mem <= 0:
        raise RequestError(f"{where} has zero allocatable cpu or memory")
    zone = meta.labels.get(labels.zone, "")
    return NodeRow(
        meta.name,
        zone,
        meta.labels.get(labels.rack, zone),
        cpu,
        mem,
        _quantity(notes.get(keys.cpu_requested, 0), f"{where} {keys.cpu_requested}"),
        _quantity(notes.get(keys.memory_requested, 0), f"{where} {keys.memory_requested}"),
        _quantity(notes.get(keys.cpu_usage, 0), f"{where} {keys.cpu_usage}"),
        _power_state(node, notes, keys.power_state, where),
    )


def _container_requests(container: Any, where: str) -> np.ndarray:
    if not isinstance(container, dict):
        raise RequestError(f"{where} must be an object")
    resources = _mapping(container.get("resources"), f"{where}.resources")
    requests = _mapping(resources.get("requests"), f"{where}.resources.requests")
    limits = _mapping(resources.get("limits"), f"{where}.resources.limits")
    out = np.zeros(2)
    for i, key in enumerate(("cpu", "memory")):
        # The API server defaults a missing request to the limit.
        value = requests.get(key, limits.get(key))
        if value is not None:
            out[i] = _quantity(value, f"{where} {key}")
    return out


def effective_requests(spec: dict[str, Any], where: str = "pod") -> tuple[float, float]:
    """(cpu cores, memory bytes) kube-scheduler charges a pod: max(sum of containers + sidecars,
    each init container + the sidecars started before it) + overhead; pod-level resources
    (spec.resources) replace the container sum when set."""
    containers = spec.get("containers")
    if not isinstance(containers, list):
        raise RequestError(f"{where}.spec.containers must be a list")
    total = sum(
        (_container_requests(c, f"{where}.spec.containers[{i}]") for i, c in enumerate(containers)),
        np.zeros(2),
    )
    sidecars, init_peak = np.zeros(2), np.zeros(2)
    for i, init in enumerate(spec.get("initContainers") or []):
        request = _container_requests(init, f"{where}.spec.initContainers[{i}]")
        if init.get("restartPolicy") == "Always":
            sidecars = sidecars + request
        else:
            init_peak = np.maximum(init_peak, request + sidecars)
    total = np.maximum(total + sidecars, init_peak)
    pod_level = _mapping(
        _mapping(spec.get("resources"), f"{where}.spec.resources").get("requests"),
        f"{where}.spec.resources.requests",
    )
    for i, key in enumerate(("cpu", "memory")):
        if key in pod_level:
            total[i] = _quantity(pod_level[key], f"{where}.spec.resources.requests {key}")
    overhead = _mapping(spec.get("overhead"), f"{where}.spec.overhead")
    for i, key in enumerate(("cpu", "memory")):
        if key in overhead:
            total[i] += _quantity(overhead[key], f"{where}.spec.overhead {key}")
    return float(total[0]), float(total[1])


def _timestamp(value: Any, where: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise RequestError(f"{where} is not an RFC 3339 time: {shown(value)}") from None


def workload_of(
    namespace: str,
    name: str,
    generate_name: str,
    labels: dict[str, str],
    owners: list[tuple[str, str, bool]],
) -> str:
    """The workload a pod belongs to, as namespace/Kind/name: its controller ((kind, name,
    controller) owner references; a ReplicaSet of a Deployment counts as the Deployment, its
    pod-template-hash suffix dropped), else its generateName or name (a pod of its own)."""
    controllers = [(kind, owner) for kind, owner, controller in owners if controller]
    if not controllers and owners:
        controllers = [owners[0][:2]]
    if not controllers:
        return f"{namespace}/Pod/{generate_name or name}"
    kind, owner = controllers[0]
    template_hash = labels.get("pod-template-hash", "")
    if kind == "ReplicaSet" and template_hash and owner.endswith(f"-{template_hash}"):
        kind, owner = "Deployment", owner[: -len(template_hash) - 1]
    return f"{namespace}/{kind}/{owner}"


def _owners(meta: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(kind, name, controller) of a pod's well-formed ownerReferences."""
    refs = meta.get("ownerReferences")
    return [
        (str(ref.get("kind", "")), str(ref.get("name", "")), ref.get("controller") is True)
        for ref in (refs if isinstance(refs, list) else [])
        if isinstance(ref, dict)
    ]


def priority_class(priority: int, thresholds: list[int], max_priority: int) -> int:
    """Task priority: how many thresholds the pod's spec.priority reaches, at most max_priority."""
    return min(int(np.searchsorted(np.asarray(thresholds), priority, side="right")), max_priority)


def parse_pod(
    pod: dict[str, Any], keys: AnnotationConfig, pod_config: PodConfig, max_priority: int
) -> PodRequest:
    """The v1.Pod being scheduled as a PodRequest; RequestError on malformed fields."""
    meta = _mapping(pod.get("metadata"), "Pod.metadata")
    where = f"pod '{shown(meta.get('namespace', 'default'))}/{shown(meta.get('name', ''))}'"
    spec = _mapping(pod.get("spec"), f"{where} spec")
    cpu, mem = effective_requests(spec, where)
    notes = _mapping(meta.get("annotations"), f"{where} metadata.annotations")
    priority = spec.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise RequestError(f"{where} spec.priority must be an integer")
    defers = notes.get(keys.defers, 0)
    try:
        defers = int(defers)
    except (TypeError, ValueError):
        raise RequestError(
            f"{where} annotation {keys.defers} must be a count, got {shown(defers)}"
        ) from None
    if defers < 0:
        raise RequestError(f"{where} annotation {keys.defers} must be >= 0")
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", "default"))
    labels = meta.get("labels")
    workload = workload_of(
        namespace,
        name,
        str(meta.get("generateName", "")),
        labels if isinstance(labels, dict) else {},
        _owners(meta),
    )
    return PodRequest(
        name=name,
        namespace=namespace,
        cpu=cpu,
        mem=mem,
        priority=priority_class(priority, list(pod_config.priority_thresholds), max_priority),
        deferrable=str(notes.get(keys.deferrable, "")).strip().lower() in TRUE_WORDS,
        defers=defers,
        created_s=_timestamp(meta.get("creationTimestamp"), f"{where} metadata.creationTimestamp"),
        workload=workload,
    )
