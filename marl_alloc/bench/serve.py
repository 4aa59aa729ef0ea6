"""`python -m marl_alloc.bench serve`: latency and throughput of the scheduler extender.

Starts a local Ray Serve with the extender (the checkpoint given, else an untrained policy of the
default config: the same compute as a trained one) and sends prioritize calls with
Kubernetes-shaped nodes (labels, annotations, conditions, node info; no image lists) over HTTP
keep-alive connections, as kube-scheduler does: sequentially (p50/p99 latency, requests/s) and
from `--clients` threads (throughput). Warm-up calls are not timed.

- `http_ms`: the same node objects every call, as for consecutive pods in a quiet cluster (the
  extender's node cache parses each node once);
- `replica_ms`: the same calls as the replica timed them (its Server-Timing header: arrival at
  the replica to answer; `replica_stages_ms`: receiving the body, parsing, waiting for the
  policy), and `overhead_ms` = http - replica per call: the client, the network, and Serve's
  HTTP proxy and its hop to the replica when the call goes through them;
- `http_changed_nodes_ms`: every node object has a new resourceVersion (cache misses);
- `handler_ms`: the same calls through ExtenderService in-process, without HTTP and Serve;
- `node_names_http_ms`: NodeNames only (nodeCacheCapable), nodes known from earlier calls.

`watch` (the production path with nodeCacheCapable: true): a second app with
serve.node_source=watch whose replica lists and watches the nodes of a fake Kubernetes API
server inside the bench (the largest size's nodes), sent NodeNames-only calls for the first N
nodes: `http_ms`, `replica_ms`, `replica_stages_ms`, and whether its answers are the
full-Node in-process ones. `--paths request` leaves it out.

Calls go to the replicas' own ports (serve.ingress.mode=direct, the deploy/ files' setting: Ray
Serve direct ingress, no proxy hop); the watch path is also timed through Serve's HTTP proxy
(`proxy_http_ms`). `serve.ingress.mode=proxy` times the proxy alone.

The deadline is lifted (serve.deadline_ms=10000) so every answer is the policy's; `fallbacks`
counts the answers that came from best-fit all the same. The load average at the start and the
end is part of the result: this machine's other work moves every figure. Prints one JSON line
with `--json`.

    python -m marl_alloc.bench serve --json [--checkpoint DIR] [--nodes 100 1000] [overrides]
"""

import argparse
import concurrent.futures
import http.client
import http.server
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.bench.report import run_benchmark

BENCH_OVERRIDES = [
    "serve.deployment.num_replicas=1",
    "serve.deployment.num_cpus=0",
    "serve.deadline_ms=10000",
    "serve.http.host=127.0.0.1",
    "serve.ingress.mode=direct",
    # Nothing balances load over the bench's replicas: stop them at once.
    "serve.ingress.draining_s=0",
]
GOAL_P99_MS = 20.0
GOAL_NODES = 1000
# Request bodies cycled through so that every node object changed since the previous call.
CHANGED_VARIANTS = 3
# 2024-06-01 12:00 UTC: requests and the in-process handler see the same clock.
CLOCK_S = 1717243200.0
CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable", "Ready")
WARMUP_CALLS = 20
PATHS = ("request", "watch")
WATCH_SYNC_S = 60.0
SERVER_TIMING = re.compile(r"(\w+);dur=([0-9.]+)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m marl_alloc.bench serve")
    parser.add_argument("--checkpoint", default=None, help="default: an untrained default policy")
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--requests", type=int, default=300, help="timed calls per size")
    parser.add_argument("--clients", type=int, default=4, help="threads for the throughput run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=PATHS,
        default=list(PATHS),
        help="request: full Node objects in the calls; watch: NodeNames, nodes from a watch",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. serve.batch.max_batch_size=8"
    )
    return parser.parse_args(argv)


def bench_node(i: int, rng: np.random.Generator, version: int = 0) -> dict[str, Any]:
    """A v1.Node as kube-scheduler sends it (racks of 20 in 3 zones, 32 or 64 cores), at its
    `version`-th resourceVersion."""
    name = f"ip-10-{i // 250}-{i % 250}-{17 + i % 7}.ec2.internal"
    rack = i // 20
    zone = f"us-east-1{'abc'[rack % 3]}"
    cores = int(rng.choice([32, 64]))
    memory_gi = cores * 4
    stamp = "2024-06-01T11:59:30Z"
    return {
        "metadata": {
            "name": name,
            "uid": f"4f0c6c5e-{i:04x}-4b8e-9f3a-{i:012x}",
            "resourceVersion": str(1000000 * (version + 1) + i),
            "creationTimestamp": "2024-05-01T08:00:00Z",
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "node.kubernetes.io/instance-type": f"m6i.{cores // 4}xlarge",
                "topology.kubernetes.io/region": "us-east-1",
                "topology.kubernetes.io/zone": zone,
                "marl-alloc.io/rack": f"rack-{rack:03d}",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "marl-alloc.io/cpu-requested": f"{int(rng.uniform(0, cores * 900))}m",
                "marl-alloc.io/memory-requested": f"{int(rng.uniform(0, memory_gi * 900))}Mi",
                "marl-alloc.io/cpu-usage": f"{int(rng.uniform(0, cores * 800))}m",
            },
        },
        "spec": {
            "podCIDR": f"10.{100 + i // 250}.{i % 250}.0/24",
            "providerID": f"aws:///{zone}/i-0{i:016x}",
        },
        "status": {
            "capacity": {"cpu": str(cores), "memory": f"{memory_gi}Gi", "pods": "110"},
            "allocatable": {
                "cpu": f"{cores * 1000 - 90}m",
                "memory": f"{memory_gi * 1024 - 1200}Mi",
                "pods": "110",
                "ephemeral-storage": "95491281146",
            },
            "conditions": [
                {
                    "type": kind,
                    "status": "True" if kind == "Ready" else "False",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": "2024-05-01T08:01:00Z",
                    "reason": "KubeletReady" if kind == "Ready" else f"KubeletHasNo{kind}",
                    "message": "kubelet is posting ready status"
                    if kind == "Ready"
                    else f"kubelet has no {kind.lower()}",
                }
                for kind in CONDITIONS
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"10.0.{i // 250}.{i % 250}"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"ec2{i:029x}",
                "systemUUID": f"ec2{i:05x}-0000-0000-0000-000000000000",
                "bootID": f"b00710{i:06x}-0000-0000-0000-000000000000",
                "kernelVersion": "6.1.90-99.173.amzn2023.x86_64",
                "osImage": "Amazon Linux 2023.4.20240528",
                "containerRuntimeVersion": "containerd://1.7.11",
                "kubeletVersion": "v1.30.0-eks-036c24b",
                "kubeProxyVersion": "v1.30.0-eks-036c24b",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def bench_args(num_nodes: int, seed: int, version: int = 0) -> dict[str, Any]:
    """ExtenderArgs: a 2-core / 4 GiB pod over `num_nodes` nodes (their load drawn from `seed`,
    their resourceVersions from `version`)."""
    rng = np.random.default_rng(seed)
    pod = {
        "metadata": {
            "name": "web-7d9f8c6b5-x2x9q",
            "namespace": "default",
            "uid": "8c1c2a36-0000-4000-8000-000000000001",
            "creationTimestamp": "2024-06-01T11:59:59Z",
            "annotations": {"marl-alloc.io/expected-duration-seconds": "1800"},
        },
        "spec": {
            "priority": 0,
            "schedulerName": "marl-alloc-scheduler",
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
                }
            ],
        },
    }
    nodes = [bench_node(i, rng, version) for i in range(num_nodes)]
    return {"Pod": pod, "Nodes": {"kind": "NodeList", "apiVersion": "v1", "items": nodes}}


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50 / p99 / mean in milliseconds."""
    ms = np.asarray(seconds) * 1e3
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
        "mean": round(float(ms.mean()), 2),
    }


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KeepAliveClient:
    """POSTs over one HTTP/1.1 keep-alive connection, as kube-scheduler's Go client sends them."""

    def __init__(self, url: str, timeout_s: float = 30.0):
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)

    def post(self, body: bytes) -> tuple[float, dict[str, float], bytes]:
        """(seconds to the whole answer, the replica's Server-Timing ms by stage, the answer)."""
        start = time.perf_counter()
        self.connection.request(
            "POST", self.path, body=body, headers={"Content-Type": "application/json"}
        )
        reply = self.connection.getresponse()
        answer = reply.read()
        seconds = time.perf_counter() - start
        if reply.status != 200:
            raise RuntimeError(f"extender answered {reply.status}: {answer[:200]!r}")
        timing = SERVER_TIMING.findall(reply.getheader("Server-Timing") or "")
        return seconds, {name: float(ms) for name, ms in timing}, answer

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def time_http(client: KeepAliveClient, bodies: list[bytes], count: int) -> dict[str, Any]:
    """`count` sequential calls cycling through `bodies`: latencies, the replica's Server-Timing
    stages and the last answer."""
    latencies, server_timing, answer = [], [], b""
    for i in range(count):
        seconds, stages_ms, answer = client.post(bodies[i % len(bodies)])
        latencies.append(seconds)
        server_timing.append(stages_ms)
    return {"latencies": latencies, "server_timing": server_timing, "answer": answer}


def time_concurrent(url: str, body: bytes, count: int, clients: int) -> dict[str, Any]:
    """Requests/s and latency with `clients` threads (one connection each) sending `count`
    calls in all."""
    per_client = max(count // clients, 1)
    connections = [KeepAliveClient(url) for _ in range(clients)]
    for client in connections:
        client.post(body)  # connect and warm up outside the timing
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(lambda c: time_http(c, [body], per_client), connections))
    wall = time.perf_counter() - start
    for client in connections:
        client.close()
    latencies = [x for part in parts for x in part["latencies"]]
    return {
        "clients": clients,
        "requests_per_s": round(len(latencies) / wall, 1),
        "latency_ms": percentiles_ms(latencies),
    }


def fallback_count(stats_url: str) -> int:
    """Answers the replica gave from best-fit so far."""
    with urllib.request.urlopen(stats_url, timeout=30) as reply:
        return int(json.loads(reply.read())["counts"].get("fallbacks", 0))


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def untrained_checkpoint(root: Path) -> Path:
    """A checkpoint of the default config's policy, freshly initialized."""
    from envs import VectorDatacenterEnv
    from marl_alloc.floor.settings import CONFIG_FILE
    from marl_alloc.floor.settings.compose import compose_settings
    from marl_alloc.policy import build_policy_spec
    from marl_alloc.policy.checkpoint import MODULE_PATH

    settings = compose_settings([])
    env = VectorDatacenterEnv(settings.env, num_envs=1, seed=0)
    spec = build_policy_spec(env.obs_dims, env.num_actions, settings.model.policy)
    spec.build().save_to_path(str(root / MODULE_PATH))
    settings.save(root / CONFIG_FILE)
    return root


class FakeNodeApi(http.server.ThreadingHTTPServer):
    """A Kubernetes API server with a fixed node list: GET /api/v1/nodes lists them, a watch
    sends one bookmark and stays open (a quiet cluster) until `close`."""

    def __init__(self, nodes: list[dict[str, Any]]):
        super().__init__(("127.0.0.1", 0), _FakeNodeApiHandler)
        self.node_list = json.dumps(
            {"kind": "NodeList", "metadata": {"resourceVersion": "1"}, "items": nodes}
        ).encode()
        self.closing = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        """End the open watches and stop serving."""
        self.closing.set()
        self.shutdown()
        self.server_close()


class _FakeNodeApiHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        server: FakeNodeApi = self.server
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "watch=1" not in self.path:
            self.send_header("Content-Length", str(len(server.node_list)))
            self.end_headers()
            self.wfile.write(server.node_list)
            return
        self.end_headers()
        bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "1"}}}
        self.wfile.write(json.dumps(bookmark).encode() + b"\n")
        self.wfile.flush()
        server.closing.wait()

    def log_message(self, *args):
        pass


def wait_for_watch_sync(stats_url: str, num_nodes: int) -> None:
    """Until the watch replica's node cache holds the fake API server's nodes."""
    deadline = time.monotonic() + WATCH_SYNC_S
    while time.monotonic() < deadline:
        with urllib.request.urlopen(stats_url, timeout=30) as reply:
            if json.loads(reply.read())["node_cache"]["nodes"] == num_nodes:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the watch replica did not list {num_nodes} nodes in {WATCH_SYNC_S} s")


def names_body(doc: dict[str, Any]) -> bytes:
    """The NodeNames-only ExtenderArgs of a full one (nodeCacheCapable: true)."""
    names = [n["metadata"]["name"] for n in doc["Nodes"]["items"]]
    return json.dumps({"Pod": doc["Pod"], "NodeNames": names}).encode()


def server_timing_figures(timings: list[dict[str, float]]) -> dict[str, Any]:
    """The replica's own time (`handler`) and its stages, as percentiles."""
    replica = [t["handler"] / 1e3 for t in timings if "handler" in t]
    stages = {
        name: percentiles_ms([t[name] / 1e3 for t in timings if name in t])
        for name in ("body", "parse", "policy")
        if any(name in t for t in timings)
    }
    return {"replica_ms": percentiles_ms(replica), "replica_stages_ms": stages}


def measure_watch(
    service, url: str, num_nodes: int, args: argparse.Namespace, proxy_url: str | None = None
) -> dict[str, Any]:
    """NodeNames calls over the first `num_nodes` of the watched nodes, checked against the
    in-process answer to the same call with the full Node objects; `proxy_url`: the same calls
    through Serve's HTTP proxy as well (`proxy_http_ms`)."""
    doc = bench_args(num_nodes, args.seed)
    status, expected = service.handle("prioritize", json.dumps(doc).encode())
    assert status == 200
    body = names_body(doc)
    timed = {}
    for route, route_url in [("http", url), ("proxy_http", proxy_url)]:
        if route_url is None:
            continue
        client = KeepAliveClient(route_url)
        try:
            time_http(client, [body], WARMUP_CALLS)
            timed[route] = time_http(client, [body], args.requests)
        finally:
            client.close()
    result = {
        "nodes": num_nodes,
        "request_bytes": len(body),
        "requests": args.requests,
        "http_ms": percentiles_ms(timed["http"]["latencies"]),
        **server_timing_figures(timed["http"]["server_timing"]),
    }
    if "proxy_http" in timed:
        result["proxy_http_ms"] = percentiles_ms(timed["proxy_http"]["latencies"])
    answers = [json.loads(t["answer"]) for t in timed.values()]
    result["answers_match_full_nodes_in_process"] = all(a == json.loads(expected) for a in answers)
    return result


def measure_size(service, url: str, num_nodes: int, args: argparse.Namespace) -> dict[str, Any]:
    """Handler, HTTP, throughput and node-name figures for one node count."""
    docs = [bench_args(num_nodes, args.seed + k, version=k) for k in range(CHANGED_VARIANTS)]
    bodies = [json.dumps(doc).encode() for doc in docs]
    body = bodies[0]
    stats_url = url.rsplit("/", 1)[0] + "/stats"
    fallbacks_before = fallback_count(stats_url)
    handler = []
    for _ in range(min(args.requests, 100) + 5):
        start = time.perf_counter()
        status, expected = service.handle("prioritize", body)
        handler.append(time.perf_counter() - start)
    assert status == 200
    client = KeepAliveClient(url)
    try:
        time_http(client, [body], WARMUP_CALLS)  # connection, batch queue, node cache
        same = time_http(client, [body], args.requests)
        changed = time_http(client, bodies, args.requests)
        names = {
            "Pod": docs[0]["Pod"],
            "NodeNames": [n["metadata"]["name"] for n in docs[0]["Nodes"]["items"]],
        }
        time_http(client, [body], 1)  # the node cache holds docs[0]'s nodes again
        by_name = time_http(client, [json.dumps(names).encode()], min(args.requests, 100))
    finally:
        client.close()
    concurrent = time_concurrent(url, body, args.requests, args.clients)
    http_ms = np.asarray(same["latencies"]) * 1e3
    timings = same["server_timing"]
    replica_ms = np.asarray([t.get("handler", np.nan) for t in timings])
    return {
        "nodes": num_nodes,
        "request_bytes": len(body),
        "requests": args.requests,
        "http_ms": percentiles_ms(same["latencies"]),
        "requests_per_s": round(len(same["latencies"]) / sum(same["latencies"]), 1),
        **server_timing_figures(timings),
        "overhead_ms": percentiles_ms((http_ms - replica_ms) / 1e3),
        "concurrent": concurrent,
        "http_changed_nodes_ms": percentiles_ms(changed["latencies"]),
        "handler_ms": percentiles_ms(handler[5:]),
        "node_names_http_ms": percentiles_ms(by_name["latencies"]),
        "fallbacks": fallback_count(stats_url) - fallbacks_before,
        "answers_match_in_process": json.loads(same["answer"]) == json.loads(expected),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start Serve with the extender, measure every size, shut down."""
    import ray
    import torch
    from ray import serve

    from marl_alloc.floor.errors import UserError
    from marl_alloc.serving.app import build_app
    from marl_alloc.serving.ingress import prepare_local_ray, replica_urls
    from marl_alloc.serving.policy import LevelQPolicy
    from marl_alloc.serving.service import ExtenderService
    from marl_alloc.serving.settings import serve_settings

    if args.requests <= 0 or args.clients <= 0 or min(args.nodes) <= 0:
        raise UserError("--requests, --clients and --nodes must be > 0")
    load_at_start = load_average()
    port = free_port()
    overrides = [*BENCH_OVERRIDES, f"serve.http.port={port}", f"serve.clock_s={CLOCK_S}"]
    fake_api = None
    if "watch" in args.paths:
        fake_api = FakeNodeApi(bench_args(max(args.nodes), args.seed)["Nodes"]["items"])
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or str(untrained_checkpoint(Path(tmp) / "checkpoint"))
        config, env_settings = serve_settings(checkpoint, [*overrides, *args.overrides])
        policy, _ = LevelQPolicy.from_checkpoint(checkpoint)
        torch.set_num_threads(1)
        service = ExtenderService(config, env_settings, policy)
        started_ray = not ray.is_initialized()
        if started_ray:
            prepare_local_ray(config)
            ray.init(include_dashboard=False, logging_level="ERROR")
        direct = config.ingress.mode == "direct"
        quiet = {"enable_access_log": False, "log_level": "WARNING"}
        proxy_root = f"http://{config.http.host}:{config.http.port}"

        def start_app(app_overrides: list[str], name: str) -> tuple[str, str]:
            """Run the extender as app `name` at /name: (its base URL, its proxy base URL)."""
            named = [*app_overrides, f"serve.app_name={name}", f"serve.route_prefix=/{name}"]
            app_config, _ = serve_settings(checkpoint, named)
            app = build_app(app_config, checkpoint, "best-fit", env_settings)
            serve.run(app, name=name, route_prefix=f"/{name}", logging_config=quiet)
            proxy_base = f"{proxy_root}/{name}"
            if not direct:
                return proxy_base, proxy_base
            return replica_urls(app_config)[0].rstrip("/"), proxy_base

        try:
            serve.start(http_options={"host": config.http.host, "port": config.http.port})
            results, watch_results, fallbacks = [], [], 0
            if "request" in args.paths:
                base, _ = start_app([*overrides, *args.overrides], "bench")
                results = [measure_size(service, f"{base}/prioritize", n, args) for n in args.nodes]
                fallbacks += fallback_count(f"{base}/stats")
            if fake_api is not None:
                watch_overrides = [
                    *overrides,
                    *args.overrides,
                    "serve.node_source=watch",
                    f"serve.kube_api.api_server={fake_api.url}",
                ]
                base, proxy_base = start_app(watch_overrides, "watch")
                wait_for_watch_sync(f"{base}/stats", max(args.nodes))
                proxy = f"{proxy_base}/prioritize" if direct else None
                watch_results = [
                    measure_watch(service, f"{base}/prioritize", n, args, proxy) for n in args.nodes
                ]
                fallbacks += fallback_count(f"{base}/stats")
        finally:
            serve.shutdown()
            if started_ray:
                ray.shutdown()
            if fake_api is not None:
                fake_api.close()
    at_goal = [r for r in [*results, *watch_results] if r["nodes"] == GOAL_NODES]
    topology = env_settings["topology"]
    return {
        "bench": "serve",
        "policy": args.checkpoint or "untrained, default config",
        "policy_shape": [
            topology[k] for k in ("racks_per_cluster", "leaves_per_rack", "hosts_per_leaf")
        ],
        "cpus": os.cpu_count(),
        "ingress": config.ingress.mode,
        "load_avg_at_start": load_at_start,
        "load_avg_at_end": load_average(),
        "results": results,
        "watch_results": watch_results,
        "fallbacks": fallbacks,
        "goal_p99_ms_at_1000_nodes": GOAL_P99_MS,
        # The production path's: the watch path when it ran, else the request path.
        "goal_met": bool(at_goal) and at_goal[-1]["http_ms"]["p99"] <= GOAL_P99_MS,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
