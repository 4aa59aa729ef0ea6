"""`python -m marl_alloc.bench serve`: latency and throughput of the scheduler extender.

Starts a local Ray Serve with the extender (the checkpoint given, else an untrained policy of the
default config: the same compute as a trained one) and sends prioritize calls with
Kubernetes-shaped nodes (labels, annotations, conditions, node info; no image lists) over HTTP:
sequentially (p50/p99 latency, requests/s) and from `--clients` threads (throughput).

- `http_ms`: the same node objects every call, as for consecutive pods in a quiet cluster (the
  extender's node cache parses each node once);
- `http_changed_nodes_ms`: every node object differs from the previous call (cache misses);
- `handler_ms`: the same calls through ExtenderService in-process, without HTTP and Serve;
- `node_names_http_ms`: NodeNames only (nodeCacheCapable), nodes known from earlier calls.

The deadline is lifted (serve.deadline_ms=10000) so every answer is the policy's; `fallbacks`
says so. Prints one JSON line with `--json`.

    python -m marl_alloc.bench serve --json [--checkpoint DIR] [--nodes 100 1000] [overrides]
"""

import argparse
import concurrent.futures
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.bench.report import run_benchmark

BENCH_OVERRIDES = [
    "serve.deployment.num_replicas=1",
    "serve.deployment.num_cpus=0",
    "serve.deadline_ms=10000",
    "serve.http.host=127.0.0.1",
]
GOAL_P99_MS = 20.0
GOAL_NODES = 1000
# Request bodies cycled through so that every node object changed since the previous call.
CHANGED_VARIANTS = 3
# 2024-06-01 12:00 UTC: requests and the in-process handler see the same clock.
CLOCK_S = 1717243200.0
CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable", "Ready")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m marl_alloc.bench serve")
    parser.add_argument("--checkpoint", default=None, help="default: an untrained default policy")
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--requests", type=int, default=300, help="timed calls per size")
    parser.add_argument("--clients", type=int, default=4, help="threads for the throughput run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. serve.batch.max_batch_size=8"
    )
    return parser.parse_args(argv)


def bench_node(i: int, rng: np.random.Generator) -> dict[str, Any]:
    """A v1.Node as kube-scheduler sends it (racks of 20 in 3 zones, 32 or 64 cores)."""
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
            "resourceVersion": str(1000000 + i),
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


def bench_args(num_nodes: int, seed: int) -> dict[str, Any]:
    """ExtenderArgs: a 2-core / 4 GiB pod over `num_nodes` nodes."""
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
    nodes = [bench_node(i, rng) for i in range(num_nodes)]
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


def time_http(url: str, body: bytes, count: int, session=None) -> tuple[list[float], Any]:
    """Latencies of `count` POSTs with one keep-alive connection, and the last answer."""
    import requests

    session = session or requests.Session()
    headers = {"Content-Type": "application/json"}
    latencies, reply = [], None
    for _ in range(count):
        start = time.perf_counter()
        reply = session.post(url, data=body, headers=headers, timeout=30)
        latencies.append(time.perf_counter() - start)
        if reply.status_code != 200:
            raise RuntimeError(f"extender answered {reply.status_code}: {reply.text[:200]}")
    return latencies, reply.json()


def time_concurrent(url: str, body: bytes, count: int, clients: int) -> dict[str, Any]:
    """Requests/s and latency with `clients` threads sending `count` calls in all."""
    per_client = max(count // clients, 1)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(lambda _: time_http(url, body, per_client)[0], range(clients)))
    wall = time.perf_counter() - start
    latencies = [x for part in parts for x in part]
    return {
        "clients": clients,
        "requests_per_s": round(len(latencies) / wall, 1),
        "latency_ms": percentiles_ms(latencies),
    }


def untrained_checkpoint(root: Path) -> Path:
    """A checkpoint of the default config's policy, freshly initialized."""
    from omegaconf import OmegaConf

    from envs import VectorDatacenterEnv
    from marl_alloc.checkpoints import CONFIG_FILE, MODULE_PATH
    from marl_alloc.compose import compose_settings
    from marl_alloc.policy import build_policy_spec

    settings = compose_settings([])
    env = VectorDatacenterEnv(settings["env"], num_envs=1, seed=0)
    spec = build_policy_spec(env.obs_dims, env.num_actions, settings["model"]["policy"])
    spec.build().save_to_path(str(root / MODULE_PATH))
    OmegaConf.save(OmegaConf.create(settings), root / CONFIG_FILE)
    return root


def measure_size(service, url: str, num_nodes: int, args: argparse.Namespace) -> dict[str, Any]:
    """Handler, HTTP, throughput and node-name figures for one node count."""
    docs = [bench_args(num_nodes, args.seed + k) for k in range(CHANGED_VARIANTS)]
    bodies = [json.dumps(doc).encode() for doc in docs]
    body = bodies[0]
    handler = []
    for _ in range(min(args.requests, 100) + 5):
        start = time.perf_counter()
        status, expected = service.handle("prioritize", body)
        handler.append(time.perf_counter() - start)
    assert status == 200
    time_http(url, body, 20)  # warm-up: connections, batch queue, node cache
    latencies, answer = time_http(url, body, args.requests)
    changed = [time_http(url, bodies[i % len(bodies)], 1)[0][0] for i in range(args.requests)]
    names = {
        "Pod": docs[0]["Pod"],
        "NodeNames": [n["metadata"]["name"] for n in docs[0]["Nodes"]["items"]],
    }
    time_http(url, body, 1)  # the node cache holds docs[0]'s nodes again
    name_latencies, _ = time_http(url, json.dumps(names).encode(), min(args.requests, 100))
    return {
        "nodes": num_nodes,
        "request_bytes": len(body),
        "http_ms": percentiles_ms(latencies),
        "requests_per_s": round(len(latencies) / sum(latencies), 1),
        "concurrent": time_concurrent(url, body, args.requests, args.clients),
        "http_changed_nodes_ms": percentiles_ms(changed),
        "handler_ms": percentiles_ms(handler[5:]),
        "node_names_http_ms": percentiles_ms(name_latencies),
        "answers_match_in_process": answer == json.loads(expected),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start Serve with the extender, measure every size, shut down."""
    import ray
    import requests
    import torch
    from ray import serve

    from marl_alloc.serving.app import build_app
    from marl_alloc.serving.policy import LevelQPolicy
    from marl_alloc.serving.service import ExtenderService
    from marl_alloc.serving.settings import serve_settings
    from marl_alloc.settings import UserError

    if args.requests <= 0 or args.clients <= 0 or min(args.nodes) <= 0:
        raise UserError("--requests, --clients and --nodes must be > 0")
    port = free_port()
    overrides = [*BENCH_OVERRIDES, f"serve.http.port={port}", f"serve.clock_s={CLOCK_S}"]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or str(untrained_checkpoint(Path(tmp) / "checkpoint"))
        config, env_settings = serve_settings(checkpoint, [*overrides, *args.overrides])
        policy, _ = LevelQPolicy.from_checkpoint(checkpoint)
        torch.set_num_threads(1)
        service = ExtenderService(config, env_settings, policy)
        started_ray = not ray.is_initialized()
        if started_ray:
            ray.init(include_dashboard=False, logging_level="ERROR")
        try:
            serve.start(http_options={"host": config.http.host, "port": config.http.port})
            app = build_app(config, checkpoint, "best-fit", env_settings)
            quiet = {"enable_access_log": False, "log_level": "WARNING"}
            serve.run(app, name="bench", route_prefix="/bench", logging_config=quiet)
            base = f"http://{config.http.host}:{config.http.port}/bench"
            results = [measure_size(service, f"{base}/prioritize", n, args) for n in args.nodes]
            stats = requests.get(f"{base}/stats", timeout=30).json()
        finally:
            serve.shutdown()
            if started_ray:
                ray.shutdown()
    at_goal = [r for r in results if r["nodes"] == GOAL_NODES]
    topology = env_settings["topology"]
    return {
        "bench": "serve",
        "policy": args.checkpoint or "untrained, default config",
        "policy_shape": [
            topology[k] for k in ("racks_per_cluster", "leaves_per_rack", "hosts_per_leaf")
        ],
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "results": results,
        "fallbacks": stats["counts"].get("fallbacks", 0),
        "goal_p99_ms_at_1000_nodes": GOAL_P99_MS,
        "goal_met": bool(at_goal) and at_goal[0]["http_ms"]["p99"] <= GOAL_P99_MS,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
