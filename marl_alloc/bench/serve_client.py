"""The serve bench's client side: kube-scheduler-like HTTP calls, timed.

Calls go over HTTP/1.1 keep-alive connections, as kube-scheduler's Go client sends them. A pod
costs what kube-scheduler spends on an extender with both verbs configured: a filter call, then
a prioritize call with the same ExtenderArgs.
"""

import collections
import concurrent.futures
import http.client
import json
import re
import threading
import time
import urllib.parse
from typing import Any

import numpy as np

SERVER_TIMING = re.compile(r"(\w+);dur=([0-9.]+)")
POD_VERBS = ("filter", "prioritize")
# A refused or reset connection: the replica behind the port is gone.
UNREACHABLE = (OSError, http.client.HTTPException)
RETRY_S = 0.01  # before a pod goes to the next replica: no spinning while every one is down


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50 / p99 / mean in milliseconds."""
    ms = np.asarray(seconds) * 1e3
    if len(ms) == 0:
        return {"p50": None, "p99": None, "mean": None}
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
        "mean": round(float(ms.mean()), 2),
    }


def get_json(url: str, timeout_s: float = 30.0) -> Any:
    """GET a JSON document; ValueError unless 200. The client closes the connection, so its
    TCP TIME_WAIT stays on the client's side (see marl_alloc.bench.serve_failover)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        connection.request("GET", parts.path)
        reply = connection.getresponse()
        body = reply.read()
    finally:
        connection.close()
    if reply.status != 200:
        raise ValueError(f"GET {url} answered {reply.status}")
    return json.loads(body)


class KeepAliveClient:
    """POSTs over one HTTP/1.1 keep-alive connection to `base` (a URL ending in '/')."""

    def __init__(self, base: str, timeout_s: float = 30.0):
        parts = urllib.parse.urlsplit(base)
        self.base = base
        self.prefix = parts.path.rstrip("/")
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)

    def request(self, verb: str, body: bytes) -> tuple[int, float, dict[str, float], bytes]:
        """(HTTP status, seconds to the whole answer, the replica's Server-Timing ms by stage,
        the answer) of POST {base}{verb}."""
        start = time.perf_counter()
        self.connection.request(
            "POST",
            f"{self.prefix}/{verb}",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        reply = self.connection.getresponse()
        answer = reply.read()
        seconds = time.perf_counter() - start
        timing = SERVER_TIMING.findall(reply.getheader("Server-Timing") or "")
        return reply.status, seconds, {name: float(ms) for name, ms in timing}, answer

    def post(self, verb: str, body: bytes) -> tuple[float, dict[str, float], bytes]:
        """(seconds, Server-Timing ms by stage, answer) of a call that must answer 200."""
        status, seconds, timing, answer = self.request(verb, body)
        if status != 200:
            raise RuntimeError(f"extender answered {status}: {answer[:200]!r}")
        return seconds, timing, answer

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def fallback_count(bases: list[str]) -> int:
    """Answers the replicas at `bases` gave from best-fit so far."""
    return sum(int(get_json(f"{base}stats")["counts"].get("fallbacks", 0)) for base in bases)


def time_http(client: KeepAliveClient, verb: str, bodies: list[bytes], count: int) -> dict:
    """`count` sequential calls cycling through `bodies`: latencies, the replica's Server-Timing
    stages and the last answer."""
    latencies, server_timing, answer = [], [], b""
    for i in range(count):
        seconds, stages_ms, answer = client.post(verb, bodies[i % len(bodies)])
        latencies.append(seconds)
        server_timing.append(stages_ms)
    return {"latencies": latencies, "server_timing": server_timing, "answer": answer}


def server_timing_figures(timings: list[dict[str, float]]) -> dict[str, Any]:
    """The replica's own time (`handler`) and its stages, as percentiles."""
    replica = [t["handler"] / 1e3 for t in timings if "handler" in t]
    stages = {
        name: percentiles_ms([t[name] / 1e3 for t in timings if name in t])
        for name in ("body", "parse", "policy")
        if any(name in t for t in timings)
    }
    return {"replica_ms": percentiles_ms(replica), "replica_stages_ms": stages}


class PodLoad:
    """Pods sent by `clients` threads for `seconds`, client i to bases[i % len(bases)]; `rate`
    pods/s in all, paced (None: each client sends its next pod when the last is answered).

    A client whose replica cannot be reached (connection refused or reset) moves to the next
    base, as a Service moves off a dead endpoint, and sends the pod again there; such calls are
    counted as `unreachable`, answers by HTTP status."""

    def __init__(
        self,
        bases: list[str],
        body: bytes,
        clients: int,
        seconds: float,
        rate: float | None = None,
    ):
        self.bases, self.body, self.clients = bases, body, clients
        self.seconds, self.rate = seconds, rate
        self.latencies: list[float] = []  # per pod: its filter and prioritize calls
        self.replica_ms: list[float] = []  # the replicas' own time per call
        self.statuses: collections.Counter[int] = collections.Counter()
        self.unreachable = 0
        self._lock = threading.Lock()
        self.started = 0.0

    def run(self) -> dict[str, Any]:
        """Send the pods; the figures."""
        self.started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(self.clients) as pool:
            list(pool.map(self._client, range(self.clients)))
        wall = time.perf_counter() - self.started
        return {
            "clients": self.clients,
            "replicas": len(self.bases),
            "seconds": round(wall, 2),
            "pods": len(self.latencies),
            "pods_per_s": round(len(self.latencies) / wall, 1),
            "pod_ms": percentiles_ms(self.latencies),
            "replica_call_ms": percentiles_ms([ms / 1e3 for ms in self.replica_ms]),
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
            "unreachable": self.unreachable,
        }

    def _client(self, i: int) -> None:
        base = i % len(self.bases)
        client = KeepAliveClient(self.bases[base])
        end = self.started + self.seconds
        sent = 0
        try:
            while True:
                now = time.perf_counter()
                if self.rate:
                    due = self.started + (sent * self.clients + i) / self.rate
                    if due > now:
                        time.sleep(due - now)
                        now = due
                if now >= end:
                    return
                try:
                    self._pod(client)
                    sent += 1
                except UNREACHABLE:
                    with self._lock:
                        self.unreachable += 1
                    client.close()
                    base = (base + 1) % len(self.bases)
                    client = KeepAliveClient(self.bases[base])
                    time.sleep(RETRY_S)
        finally:
            client.close()

    def _pod(self, client: KeepAliveClient) -> None:
        start = time.perf_counter()
        answers = [client.request(verb, self.body) for verb in POD_VERBS]
        seconds = time.perf_counter() - start
        with self._lock:
            self.latencies.append(seconds)
            for status, _, timing, _ in answers:
                self.statuses[status] += 1
                if "handler" in timing:
                    self.replica_ms.append(timing["handler"])
