"""ServeConfig: the extender's settings (conf/serve/default.yaml), strict about keys and types."""

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from marl_alloc.floor.errors import UserError, first_line

HOLD_MODES = ("threshold", "policy", "never")
NODE_SOURCES = ("request", "watch")
INGRESS_MODES = ("proxy", "direct")
# Routes the extender serves besides the bind verb.
RESERVED_ROUTES = ("filter", "prioritize", "healthz", "stats")


@dataclasses.dataclass
class HttpConfig:
    """Where Ray Serve's HTTP proxy listens."""

    host: str = "0.0.0.0"
    port: int = 8000


@dataclasses.dataclass
class IngressConfig:
    """How calls reach a replica: Serve's HTTP proxy, or the replica's own HTTP server."""

    # proxy: http.port on every node, one hop more. direct: Ray Serve direct ingress, each
    # replica serves on first_port, first_port + 1, ... of its node (a Ray-wide switch set when
    # Ray starts: marl_alloc.serving.ingress).
    mode: str = "proxy"
    first_port: int = 30000
    # Ports a node's replicas may take. 1 (one replica per Kubernetes pod): a replica that
    # restarts gets first_port back, the port the pod's Service and readiness probe use.
    ports_per_node: int = 1000
    # direct: a stopping replica keeps answering this long so load balancers move off it;
    # null: Ray Serve's default (30 s).
    draining_s: float | None = None


@dataclasses.dataclass
class DeploymentConfig:
    """Replicas of the extender deployment (each holds the policy and parses requests)."""

    num_replicas: int = 2
    max_ongoing_requests: int = 64
    num_cpus: float = 1.0


@dataclasses.dataclass
class BatchConfig:
    """@serve.batch: concurrent requests of one replica share one forward pass per level."""

    max_batch_size: int = 16
    # kube-scheduler calls one pod at a time: waiting for more requests only adds latency.
    wait_timeout_s: float = 0.0


@dataclasses.dataclass
class LabelConfig:
    """Node labels that give the topology: zone -> cluster, rack -> rack."""

    zone: str = "topology.kubernetes.io/zone"
    rack: str = "marl-alloc.io/rack"


@dataclasses.dataclass
class AnnotationConfig:
    """Annotations read from pods (deferrable, defers) and nodes (current load)."""

    deferrable: str = "marl-alloc.io/deferrable"
    defers: str = "marl-alloc.io/defers"
    cpu_requested: str = "marl-alloc.io/cpu-requested"
    memory_requested: str = "marl-alloc.io/memory-requested"
    cpu_usage: str = "marl-alloc.io/cpu-usage"
    power_state: str = "marl-alloc.io/power-state"


@dataclasses.dataclass
class PodConfig:
    """How pods become simulator tasks."""

    # Task priority class = how many thresholds pod.spec.priority reaches (clipped to max).
    priority_thresholds: list[int] = dataclasses.field(default_factory=lambda: [1, 1000])
    # Highest task priority the policy saw; null: the synthetic workload's (len(priority_probs)-1).
    max_priority: int | None = None


@dataclasses.dataclass
class CapacityUnitConfig:
    """The simulator's capacity 1.0 (its largest machine) as Kubernetes quantities; null: the
    largest allocatable among the request's nodes."""

    cpu: str | None = None
    memory: str | None = None


@dataclasses.dataclass
class CarbonConfig:
    """Carbon-aware hold-back of deferrable pods."""

    # threshold: hold while intensity > threshold_g_per_kwh; policy: hold when the cluster-level
    # Q prefers the defer action; never: no hold-back.
    hold_by: str = "threshold"
    threshold_g_per_kwh: float = 275.0
    # The threshold holds a pod at most this long after its creation; null: the simulator's
    # deferrable deadline minus one defer delay (when a deferred task must be placed).
    max_hold_s: float | None = None
    # Series time = Unix time + utc_offset_s, the same clock as the simulator's time of day.
    utc_offset_s: float = 0.0
    # Seed of the default diurnal series (the simulator seeds it with the env seed).
    seed: int = 0
    # Overrides of the checkpoint's env.carbon (e.g. {kind: csv, csv: data/caiso.csv}).
    series: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class KubeApiConfig:
    """The Kubernetes API the bind verb posts Bindings to; null values: in-cluster (the pod's
    service account token and CA, https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)."""

    api_server: str | None = None  # e.g. https://10.0.0.1:6443
    token_file: str | None = None  # a file holding a bearer token (read on every call)
    ca_file: str | None = None  # CA bundle for an https api_server
    timeout_s: float = 5.0


@dataclasses.dataclass
class NodeWatchConfig:
    """The node list + watch of serve.node_source=watch."""

    # The API server ends each watch after this long (timeoutSeconds); it is then resumed.
    timeout_s: float = 300.0
    # Failed lists and watches are retried after 0.5 s, doubling up to this.
    max_backoff_s: float = 30.0


@dataclasses.dataclass
class ServeConfig:
    """Everything `python -m marl_alloc.serve` needs besides the checkpoint."""

    app_name: str = "marl-alloc-extender"
    route_prefix: str = "/"
    http: HttpConfig = dataclasses.field(default_factory=HttpConfig)
    ingress: IngressConfig = dataclasses.field(default_factory=IngressConfig)
    deployment: DeploymentConfig = dataclasses.field(default_factory=DeploymentConfig)
    batch: BatchConfig = dataclasses.field(default_factory=BatchConfig)
    # Past this budget per request the answer is best-fit's (counted as a fallback).
    deadline_ms: float = 15.0
    # Longer request bodies get a 413 (full Node objects: ~2.7 KB a node).
    max_body_bytes: int = 32 * 2**20
    labels: LabelConfig = dataclasses.field(default_factory=LabelConfig)
    annotations: AnnotationConfig = dataclasses.field(default_factory=AnnotationConfig)
    pod: PodConfig = dataclasses.field(default_factory=PodConfig)
    capacity_unit: CapacityUnitConfig = dataclasses.field(default_factory=CapacityUnitConfig)
    carbon: CarbonConfig = dataclasses.field(default_factory=CarbonConfig)
    # kube-scheduler's NodeResourcesFit already filters on exact data; ours may be stale.
    filter_unfit_nodes: bool = False
    # Where node objects come from: request (the Nodes kube-scheduler sends; NodeNames requests
    # see the nodes of earlier Nodes requests) or watch (list + watch of the API server's nodes,
    # for nodeCacheCapable: true; needs kube_api and RBAC to list/watch nodes).
    node_source: str = "request"
    node_watch: NodeWatchConfig = dataclasses.field(default_factory=NodeWatchConfig)
    # Nodes remembered from Nodes requests (node_source=request; a watched cache has no limit).
    node_cache_size: int = 10000
    # null: the wall clock. A Unix time pins the extender's clock (replaying a simulator state).
    clock_s: float | None = None
    # The extender's bind verb (e.g. bind: POST {route_prefix}bind); null: binding stays with
    # kube-scheduler and the route answers 404.
    bind_verb: str | None = None
    # The API server of the bind verb and the node watch.
    kube_api: KubeApiConfig = dataclasses.field(default_factory=KubeApiConfig)
    # Watch finished pods for their run times (what a pending pod's run-time estimate learns
    # from, as the simulator's from finished tasks); needs kube_api and RBAC to list/watch pods.
    watch_finished_pods: bool = False
    # The estimate rests on the most recent this many finished pods (bounds a replica's memory).
    finished_pods_kept: int = 50000

    @classmethod
    def from_mapping(cls, mapping: Mapping | None) -> "ServeConfig":
        """Build from the `serve` config section; unknown keys and bad types are UserErrors."""
        try:
            merged = OmegaConf.merge(OmegaConf.structured(cls), dict(mapping or {}))
            config = OmegaConf.to_object(merged)
        except OmegaConfBaseException as err:
            raise UserError(f"bad serve config: {first_line(err)}") from None
        config.validate()
        return config

    def validate(self) -> None:
        """One-line UserErrors for values that cannot work."""
        checks = [
            (
                self.ingress.mode in INGRESS_MODES,
                f"serve.ingress.mode must be one of {INGRESS_MODES}",
            ),
            (self.ingress.first_port >= 1024, "serve.ingress.first_port must be >= 1024"),
            (self.ingress.ports_per_node >= 1, "serve.ingress.ports_per_node must be >= 1"),
            (
                self.ingress.first_port + self.ingress.ports_per_node <= 65536,
                "serve.ingress.first_port + ports_per_node must be <= 65536",
            ),
            (
                self.ingress.draining_s is None or self.ingress.draining_s >= 0,
                "serve.ingress.draining_s must be >= 0 or null",
            ),
            (1 <= self.http.port <= 65535, "serve.http.port must be a TCP port, 1..65535"),
            (self.max_body_bytes > 0, "serve.max_body_bytes must be > 0"),
            (self.deployment.num_replicas > 0, "serve.deployment.num_replicas must be > 0"),
            (self.batch.max_batch_size > 0, "serve.batch.max_batch_size must be > 0"),
            (self.batch.wait_timeout_s >= 0, "serve.batch.wait_timeout_s must be >= 0"),
            (self.deadline_ms >= 0, "serve.deadline_ms must be >= 0"),
            (
                self.carbon.hold_by in HOLD_MODES,
                f"serve.carbon.hold_by must be one of {HOLD_MODES}",
            ),
            (
                self.carbon.max_hold_s is None or self.carbon.max_hold_s >= 0,
                "serve.carbon.max_hold_s must be >= 0 or null",
            ),
            (
                list(self.pod.priority_thresholds) == sorted(self.pod.priority_thresholds),
                "serve.pod.priority_thresholds must be increasing",
            ),
            (self.node_cache_size >= 0, "serve.node_cache_size must be >= 0"),
            (self.finished_pods_kept > 0, "serve.finished_pods_kept must be > 0"),
            (self.node_source in NODE_SOURCES, f"serve.node_source must be one of {NODE_SOURCES}"),
            (self.node_watch.timeout_s >= 1, "serve.node_watch.timeout_s must be >= 1"),
            (self.node_watch.max_backoff_s > 0, "serve.node_watch.max_backoff_s must be > 0"),
            (self.route_prefix.startswith("/"), "serve.route_prefix must start with '/'"),
            (
                self.bind_verb is None or re.fullmatch(r"[A-Za-z0-9_.~-]+", self.bind_verb),
                "serve.bind_verb must be null or one path segment (e.g. bind)",
            ),
            (
                self.bind_verb not in RESERVED_ROUTES,
                f"serve.bind_verb must not be one of {RESERVED_ROUTES}",
            ),
            (self.kube_api.timeout_s > 0, "serve.kube_api.timeout_s must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    def needs_kube_api(self) -> bool:
        """Whether something configured calls the Kubernetes API."""
        return self.bind_verb is not None or self.node_source == "watch" or self.watch_finished_pods

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what a Serve replica is constructed with)."""
        return dataclasses.asdict(self)
