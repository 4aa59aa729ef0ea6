"""What the extender counts: requests, best-fit fallbacks, carbon intensity, hold decisions and
bindings.

Counts live in the replica (GET /stats answers them) and, inside Ray, are mirrored to Ray
metrics, which Prometheus scrapes from each node's metrics agent (names get Ray's `ray_` prefix).
"""

import collections
from typing import Any


class ExtenderMetrics:
    """Counters and gauges of one extender replica."""

    def __init__(self, ray_metrics: bool = False):
        self.counts: collections.Counter[str] = collections.Counter()
        self.carbon_g_per_kwh: float | None = None  # until a filter call reads it
        self.holding = False
        self.node_cache_nodes: int | None = None  # with serve.node_source=watch
        self.node_watch_age_s: float | None = None
        self._ray = None
        if ray_metrics:
            from ray.util import metrics

            self._ray = {
                "requests": metrics.Counter(
                    "marl_alloc_extender_requests",
                    description="Extender calls by verb and HTTP status.",
                    tag_keys=("verb", "code"),
                ),
                "fallbacks": metrics.Counter(
                    "marl_alloc_extender_fallbacks",
                    description="Answers given by the best-fit fallback instead of the policy.",
                    tag_keys=("verb", "reason"),
                ),
                "intensity": metrics.Gauge(
                    "marl_alloc_carbon_intensity_g_per_kwh",
                    description="Grid carbon intensity the extender decides with (g CO2e/kWh).",
                ),
                "holding": metrics.Gauge(
                    "marl_alloc_carbon_hold_active",
                    description="1 while deferrable pods are held back, else 0.",
                ),
                "deferrable": metrics.Counter(
                    "marl_alloc_deferrable_decisions",
                    description="Filter decisions on deferrable pods (held or released).",
                    tag_keys=("decision",),
                ),
                "node_cache": metrics.Gauge(
                    "marl_alloc_node_cache_nodes",
                    description="Nodes the watched node cache holds (serve.node_source=watch).",
                ),
                "node_watch_age": metrics.Gauge(
                    "marl_alloc_node_watch_last_event_age_seconds",
                    description="Seconds since the node watch's last list, event or bookmark.",
                ),
                "bindings": metrics.Counter(
                    "marl_alloc_extender_bindings",
                    description="Bind calls by result (bound, or failed: see the answer's Error).",
                    tag_keys=("result",),
                ),
            }

    def request(self, verb: str, code: int) -> None:
        """One answered call."""
        self.counts[f"requests/{verb}/{code}"] += 1
        if self._ray:
            self._ray["requests"].inc(1, tags={"verb": verb, "code": str(code)})

    def fallback(self, verb: str, reason: str) -> None:
        """One answer from best-fit: `deadline` passed or the policy `error`ed."""
        self.counts[f"fallbacks/{verb}/{reason}"] += 1
        self.counts["fallbacks"] += 1
        if self._ray:
            self._ray["fallbacks"].inc(1, tags={"verb": verb, "reason": reason})

    def carbon(self, g_per_kwh: float, holding: bool) -> None:
        """The intensity seen now and whether deferrable pods are being held."""
        self.carbon_g_per_kwh, self.holding = float(g_per_kwh), bool(holding)
        if self._ray:
            self._ray["intensity"].set(self.carbon_g_per_kwh)
            self._ray["holding"].set(1.0 if holding else 0.0)

    def deferrable(self, held: bool) -> None:
        """A filter decision on a deferrable pod."""
        decision = "held" if held else "released"
        self.counts[f"deferrable/{decision}"] += 1
        if self._ray:
            self._ray["deferrable"].inc(1, tags={"decision": decision})

    def binding(self, bound: bool) -> None:
        """A bind call's outcome."""
        result = "bound" if bound else "failed"
        self.counts[f"bindings/{result}"] += 1
        if self._ray:
            self._ray["bindings"].inc(1, tags={"result": result})

    def node_cache(self, nodes: int, last_event_age_s: float | None) -> None:
        """The watched node cache's size and the age of the watch's last event."""
        self.node_cache_nodes, self.node_watch_age_s = int(nodes), last_event_age_s
        if self._ray:
            self._ray["node_cache"].set(float(nodes))
            if last_event_age_s is not None:
                self._ray["node_watch_age"].set(float(last_event_age_s))

    def snapshot(self) -> dict[str, Any]:
        """Counts and gauges as a JSON-able dict."""
        return {
            "counts": dict(self.counts),
            "carbon_g_per_kwh": self.carbon_g_per_kwh,
            "holding_deferrable_pods": self.holding,
        }
