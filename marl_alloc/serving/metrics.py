"""What the extender counts: requests, best-fit fallbacks, carbon intensity, hold decisions,
bindings and the forecaster's forwards and forecast age.

Counts live in the replica (GET /stats answers them) and, inside Ray, are mirrored to Ray
metrics, which Prometheus scrapes from each node's metrics agent (names get Ray's `ray_` prefix).
A Ray metric write costs about as much as the rest of a small call's bookkeeping, so the
replica's calls only add to local tallies and a thread sends them to Ray once every `flush_s`
(Prometheus scrapes every 15 s or so: nothing it reads is older than that).
"""

import collections
import threading
from typing import Any

FLUSH_S = 1.0


class ExtenderMetrics:
    """Counters and gauges of one extender replica."""

    def __init__(self, ray_metrics: bool = False, flush_s: float = FLUSH_S):
        self.counts: collections.Counter[str] = collections.Counter()
        self.carbon_g_per_kwh: float | None = None  # until a filter call reads it
        self.holding = False
        self.node_cache_nodes: int | None = None  # with serve.node_source=watch
        self.node_watch_age_s: float | None = None
        self.forecast_age_bins: int | None = None  # with a forecaster, after its first forward
        self.forecast_forwards = 0
        self._ray = None
        # Not yet sent to Ray: increments by (metric, tags) and the gauges' latest values.
        self._unsent: collections.Counter[tuple[str, tuple]] = collections.Counter()
        self._gauges: dict[str, float] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
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
                "forecast_age": metrics.Gauge(
                    "marl_alloc_extender_forecast_age_bins",
                    description="Demand bins ended since those the last forecast read.",
                ),
                "forecast_forwards": metrics.Gauge(
                    "marl_alloc_extender_forecast_forwards",
                    description="Forwards of the policy's forecaster since the replica started.",
                ),
            }
            threading.Thread(target=self._send_every, args=(flush_s,), daemon=True).start()

    def _inc(self, metric: str, tags: dict[str, str]) -> None:
        if self._ray:
            with self._lock:
                self._unsent[metric, tuple(tags.items())] += 1

    def _set(self, metric: str, value: float) -> None:
        if self._ray:
            with self._lock:
                self._gauges[metric] = value

    def _send_every(self, flush_s: float) -> None:
        while not self._closed.wait(flush_s):
            self.flush()

    def flush(self) -> None:
        """Send the tallies and gauges recorded since the last flush to Ray."""
        if not self._ray:
            return
        with self._lock:
            unsent, gauges = self._unsent, self._gauges
            self._unsent, self._gauges = collections.Counter(), {}
        for (metric, tags), n in unsent.items():
            self._ray[metric].inc(n, tags=dict(tags))
        for metric, value in gauges.items():
            self._ray[metric].set(value)

    def close(self) -> None:
        """Send what is left and stop the sending thread."""
        self._closed.set()
        self.flush()

    def request(self, verb: str, code: int) -> None:
        """One answered call."""
        self.counts[f"requests/{verb}/{code}"] += 1
        self._inc("requests", {"verb": verb, "code": str(code)})

    def fallback(self, verb: str, reason: str) -> None:
        """One answer from best-fit: `deadline` passed or the policy `error`ed."""
        self.counts[f"fallbacks/{verb}/{reason}"] += 1
        self.counts["fallbacks"] += 1
        self._inc("fallbacks", {"verb": verb, "reason": reason})

    def carbon(self, g_per_kwh: float, holding: bool) -> None:
        """The intensity seen now and whether deferrable pods are being held."""
        self.carbon_g_per_kwh, self.holding = float(g_per_kwh), bool(holding)
        self._set("intensity", self.carbon_g_per_kwh)
        self._set("holding", 1.0 if holding else 0.0)

    def deferrable(self, held: bool) -> None:
        """A filter decision on a deferrable pod."""
        decision = "held" if held else "released"
        self.counts[f"deferrable/{decision}"] += 1
        self._inc("deferrable", {"decision": decision})

    def binding(self, bound: bool) -> None:
        """A bind call's outcome."""
        result = "bound" if bound else "failed"
        self.counts[f"bindings/{result}"] += 1
        self._inc("bindings", {"result": result})

    def node_cache(self, nodes: int, last_event_age_s: float | None) -> None:
        """The watched node cache's size and the age of the watch's last event."""
        self.node_cache_nodes, self.node_watch_age_s = int(nodes), last_event_age_s
        self._set("node_cache", float(nodes))
        if last_event_age_s is not None:
            self._set("node_watch_age", float(last_event_age_s))

    def forecast(self, age_bins: int | None, forwards: int) -> None:
        """The forecast's age in bins (None before the first forward) and the forwards so far."""
        self.forecast_age_bins, self.forecast_forwards = age_bins, int(forwards)
        if age_bins is not None:
            self._set("forecast_age", float(age_bins))
        self._set("forecast_forwards", float(forwards))

    def snapshot(self) -> dict[str, Any]:
        """Counts and gauges as a JSON-able dict."""
        return {
            "counts": dict(self.counts),
            "carbon_g_per_kwh": self.carbon_g_per_kwh,
            "holding_deferrable_pods": self.holding,
        }
