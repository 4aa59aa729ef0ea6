"""`python -m marl_alloc.bench serve`: latency and throughput of the scheduler extender.

Starts a local Ray Serve with the extender (the checkpoint given, else an untrained default
policy: the same compute) and calls it as kube-scheduler does (marl_alloc.bench.serve_client),
over Kubernetes-shaped nodes (marl_alloc.bench.serve_cluster). Warm-up calls are not timed.

`watch` (the production path, nodeCacheCapable: true; `watch_results`): an app with
serve.node_source=watch and `--replicas` replicas, each listing and watching the nodes of a fake
Kubernetes API server inside the bench (the largest size's nodes), with the serve config's own
deadline (serve.deadline_ms), so its fallbacks are the ones kube-scheduler would get. Per size,
NodeNames-only prioritize calls over the first N nodes:
- `http_ms`: sequential calls to one replica's own port; `replica_ms` the same calls as the
  replica timed them (Server-Timing: arrival to answer), `replica_stages_ms` its stages
  (receiving the body, parsing, the policy); `proxy_http_ms` the same through Serve's proxy;
- `pods_per_s`: pods answered per second by all replicas together from `--clients` threads for
  `--sustain-s`, each pod a filter then a prioritize call (kube-scheduler calls both verbs),
  with `sustained` holding their latency, statuses and the CPU ms per pod of the replicas and of
  the bench's clients (marl_alloc.bench.serve_replicas);
- `paced`: the same pods at `--paced-rate` pods/s in all (the goal's rate: a steady load, not
  as many as the replicas can take), with the fallbacks the replicas counted meanwhile;
- `fallbacks`: answers the replicas gave from best-fit during the size's calls (all of the
  above);
- whether the last answer is that of the same call with full Node objects, in-process (unless
  `last_answer_by` says it came from the fallback).

`request` (`--paths request`; `results`): an app with full Node objects in every call and the
deadline lifted (every answer the policy's): `http_ms`, `http_changed_nodes_ms` (every node
object new, cache misses), `handler_ms` (ExtenderService in-process, no HTTP),
`node_names_http_ms` (nodes known from earlier calls), `concurrent` (pods/s from `--clients`).

`--kill-replica`: then a watch replica is killed under a paced load at the largest size
(`replica_failure`; marl_alloc.bench.serve_failover).

`--forecaster both` (without `--checkpoint`): then the same figures again, in the same run, for
an untrained default policy with its forecaster (`with_forecaster`), and the forecaster's cost
per demand bin in-process (`forecast_per_bin`, marl_alloc.bench.serve_forecast). The bench pins
the replicas' clock, so no bin closes in them: their decisions read the forecaster's zeros
through the same per-row forecast code as a forecast, while the per-bin work (the forward, and
laying a new forecast onto the first call's rows) is timed in-process.

Calls go to the replicas' own ports (serve.ingress.mode=direct, the deploy/ files' setting). The
load average at the start and the end is part of the result: other work moves every figure.

    python -m marl_alloc.bench serve --json [--checkpoint DIR] [--nodes 1000 5000] [overrides]
"""

import argparse
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from marl_alloc.bench.report import run_benchmark
from marl_alloc.bench.serve_client import (
    KeepAliveClient,
    PodLoad,
    fallback_count,
    get_json,
    percentiles_ms,
    server_timing_figures,
    time_http,
)
from marl_alloc.bench.serve_cluster import FakeNodeApi, bench_args, names_body
from marl_alloc.bench.serve_failover import replica_failure
from marl_alloc.bench.serve_forecast import forecast_cost, untrained_checkpoints
from marl_alloc.bench.serve_replicas import run_with_cpu
from marl_alloc.bench.serve_request import REQUEST_PATH_OVERRIDES, WARMUP_CALLS, measure_size
from marl_alloc.floor.command_line import CommandParser

BENCH_OVERRIDES = [
    "serve.deployment.num_cpus=0",
    "serve.http.host=127.0.0.1",
    "serve.ingress.mode=direct",
    # Nothing balances load over the bench's replicas: stop them at once.
    "serve.ingress.draining_s=0",
]
# Per node count: the p99 goal (ms, the round trip kube-scheduler sees) and the pods/s goal of
# the watch path.
GOALS = {1000: {"p99_ms": 10.0}, 5000: {"p99_ms": 20.0, "pods_per_s": 100.0}}
# 2024-06-01 12:00 UTC: requests and the in-process handler see the same clock.
CLOCK_S = 1717243200.0
PATHS = ("request", "watch")
WATCH_SYNC_S = 120.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = CommandParser(prog="python -m marl_alloc.bench serve")
    parser.add_argument("--checkpoint", default=None, help="default: an untrained default policy")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--requests", type=int, default=300, help="timed calls per size")
    parser.add_argument("--clients", type=int, default=4, help="threads for the pod load")
    parser.add_argument("--replicas", type=int, default=2, help="replicas of the watch app")
    parser.add_argument("--sustain-s", type=float, default=10.0, help="pod load per size")
    parser.add_argument(
        "--paced-rate", type=float, default=100.0, help="pods/s of the paced load per size"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=PATHS,
        default=["watch"],
        help="watch: NodeNames, nodes from a watch; request: full Node objects in the calls",
    )
    parser.add_argument(
        "--kill-replica", action="store_true", help="kill a watch replica under a paced load"
    )
    parser.add_argument("--kill-rate", type=float, default=100.0, help="pods/s while killing")
    parser.add_argument("--kill-seconds", type=float, default=30.0, help="the paced load")
    parser.add_argument(
        "--kill-wait-s", type=float, default=90.0, help="wait for the port after the kill"
    )
    parser.add_argument(
        "--forecaster",
        choices=("off", "both"),
        default="off",
        help="both: also measure a default policy with its forecaster (no --checkpoint)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides, e.g. serve.batch.max_batch_size=8"
    )
    args = parser.parse_args(argv)
    positive = [args.requests, args.clients, args.replicas, *args.nodes]
    rates = (args.sustain_s, args.paced_rate, args.kill_rate, args.kill_seconds, args.kill_wait_s)
    if min(positive) <= 0 or min(rates) <= 0:
        parser.error("--requests, --clients, --replicas, --nodes and the rates must be > 0")
    if args.kill_replica and ("watch" not in args.paths or args.replicas < 2):
        parser.error("--kill-replica needs the watch path and --replicas >= 2")
    if args.forecaster == "both" and args.checkpoint:
        parser.error("--forecaster both measures untrained default policies: drop --checkpoint")
    return args


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_watch_sync(base: str, num_nodes: int) -> None:
    """Until the watch replica at `base` holds the fake API server's nodes."""
    deadline = time.monotonic() + WATCH_SYNC_S
    while time.monotonic() < deadline:
        if get_json(f"{base}stats")["node_cache"]["nodes"] == num_nodes:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the watch replica did not list {num_nodes} nodes in {WATCH_SYNC_S} s")


def measure_watch(
    service,
    app_name: str,
    bases: list[str],
    num_nodes: int,
    args: argparse.Namespace,
    proxy: str | None = None,
) -> dict[str, Any]:
    """NodeNames calls over the first `num_nodes` of the watched nodes, checked against the
    in-process answer to the same call with the full Node objects; `proxy`: the app's base URL
    through Serve's HTTP proxy, timed as well (`proxy_http_ms`)."""
    doc = bench_args(num_nodes, args.seed)
    status, expected = service.handle("prioritize", json.dumps(doc).encode())
    assert status == 200
    body = names_body(doc)
    fallbacks_before = fallback_count(bases)
    timed = {}
    for route, base in [("http", bases[0]), ("proxy_http", proxy)]:
        if base is None:
            continue
        client = KeepAliveClient(base)
        try:
            time_http(client, "prioritize", [body], WARMUP_CALLS)
            timed[route] = time_http(client, "prioritize", [body], args.requests)
        finally:
            client.close()
        if route == "http":  # a fallback's answer is best-fit's: say which the last one was
            last_by = get_json(f"{base}stats")["last_decision"]["answered_by"]
    sustained = run_with_cpu(PodLoad(bases, body, args.clients, args.sustain_s), app_name)
    paced_before = fallback_count(bases)
    paced_load = PodLoad(bases, body, args.clients, args.sustain_s, args.paced_rate)
    paced = {
        "target_pods_per_s": args.paced_rate,
        **run_with_cpu(paced_load, app_name),
        "fallbacks": fallback_count(bases) - paced_before,
    }
    result = {
        "nodes": num_nodes,
        "request_bytes": len(body),
        "requests": args.requests,
        "http_ms": percentiles_ms(timed["http"]["latencies"]),
        **server_timing_figures(timed["http"]["server_timing"]),
        "pods_per_s": sustained["pods_per_s"],
        "sustained": sustained,
        "paced": paced,
        "fallbacks": fallback_count(bases) - fallbacks_before,
    }
    if "proxy_http" in timed:
        result["proxy_http_ms"] = percentiles_ms(timed["proxy_http"]["latencies"])
    answer = json.loads(timed["http"]["answer"])
    result["answers_match_full_nodes_in_process"] = answer == json.loads(expected)
    result["last_answer_by"] = last_by
    return result


def goals(watch_results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each goal of the sizes measured, with the figure and whether it was met (the round
    trip's p99, pods/s, and no fallbacks)."""
    out = {}
    for entry in watch_results:
        goal = GOALS.get(entry["nodes"])
        if goal is None:
            continue
        checks = {"http_p99_ms": (entry["http_ms"]["p99"], goal["p99_ms"], "<=")}
        if "pods_per_s" in goal:
            checks["pods_per_s"] = (entry["pods_per_s"], goal["pods_per_s"], ">=")
        checks["fallbacks"] = (entry["fallbacks"], 0, "<=")
        if "pods_per_s" in goal:  # at the goal's rate, steadily
            checks["paced_fallbacks"] = (entry["paced"]["fallbacks"], 0, "<=")
        out[str(entry["nodes"])] = {
            name: {
                "measured": measured,
                "goal": target,
                "met": measured <= target if sense == "<=" else measured >= target,
            }
            for name, (measured, target, sense) in checks.items()
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start Serve with the extender, measure every size, shut down."""
    # Ray prints worker deaths and the like to stdout, which carries the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        return measure(args)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The figures of every size (and of a replica's failure) on a fresh local Serve."""
    import ray
    from ray import serve

    from marl_alloc.serving.ingress import prepare_local_ray
    from marl_alloc.serving.settings import serve_settings

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    overrides = [*BENCH_OVERRIDES, f"serve.http.port={port}", f"serve.clock_s={CLOCK_S}"]
    fake_api = None
    if "watch" in args.paths:
        fake_api = FakeNodeApi(bench_args(max(args.nodes), args.seed)["Nodes"]["items"])
    with tempfile.TemporaryDirectory() as tmp:
        plain, with_forecaster = untrained_checkpoints(Path(tmp), args.seed)
        checkpoint = args.checkpoint or str(plain)
        config, env_settings = serve_settings(checkpoint, [*overrides, *args.overrides])
        started_ray = not ray.is_initialized()
        if started_ray:
            prepare_local_ray(config)
            # Workers' log lines would interleave with the JSON on stdout.
            ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        try:
            serve.start(http_options={"host": config.http.host, "port": config.http.port})
            measured = measure_policy(checkpoint, overrides, fake_api, args, "")
            if args.forecaster == "both":
                policy_overrides = [*overrides, *args.overrides]
                measured["with_forecaster"] = {
                    **measure_policy(str(with_forecaster), overrides, fake_api, args, "-fc"),
                    "forecast_per_bin": [
                        forecast_cost(str(with_forecaster), policy_overrides, n, args.seed, CLOCK_S)
                        for n in args.nodes
                    ],
                }
        finally:
            serve.shutdown()
            if started_ray:
                ray.shutdown()
            if fake_api is not None:
                fake_api.close()
    topology = env_settings["topology"]
    result = {
        "bench": "serve",
        "policy": args.checkpoint or "untrained, default config",
        "policy_shape": [
            topology[k] for k in ("racks_per_cluster", "leaves_per_rack", "hosts_per_leaf")
        ],
        "cpus": os.cpu_count(),
        "ingress": config.ingress.mode,
        "replicas": args.replicas,
        "deadline_ms": config.deadline_ms,
        "load_avg_at_start": load_at_start,
        **measured,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    return result


def measure_policy(
    checkpoint: str,
    overrides: list[str],
    fake_api: FakeNodeApi | None,
    args: argparse.Namespace,
    suffix: str,
) -> dict[str, Any]:
    """Every size's figures (and a replica's failure) of one policy, its apps named with
    `suffix`; the apps are deleted afterwards, so the next policy's run alone."""
    import torch
    from ray import serve

    from marl_alloc.serving.app import build_app
    from marl_alloc.serving.ingress import replica_urls
    from marl_alloc.serving.policy import LevelQPolicy
    from marl_alloc.serving.service import ExtenderService
    from marl_alloc.serving.settings import serve_settings

    config, env_settings = serve_settings(checkpoint, [*overrides, *args.overrides])
    policy, _ = LevelQPolicy.from_checkpoint(checkpoint)
    torch.set_num_threads(1)
    service = ExtenderService(config, env_settings, policy)
    direct = config.ingress.mode == "direct"
    quiet = {"enable_access_log": False, "log_level": "WARNING"}
    proxy_root = f"http://{config.http.host}:{config.http.port}"
    names = []

    def start_app(app_overrides: list[str], name: str) -> tuple[list[str], str]:
        """Run the extender as app `name` at /name: (its replicas' base URLs, its base URL
        through the proxy)."""
        named = [*app_overrides, f"serve.app_name={name}", f"serve.route_prefix=/{name}"]
        app_config, _ = serve_settings(checkpoint, named)
        app = build_app(app_config, checkpoint, "best-fit", env_settings)
        serve.run(app, name=name, route_prefix=f"/{name}", logging_config=quiet)
        names.append(name)
        proxy_base = f"{proxy_root}/{name}/"
        if not direct:
            return [proxy_base], proxy_base
        return replica_urls(app_config), proxy_base

    results, watch_results, failure = [], [], None
    try:
        if "request" in args.paths:
            request_overrides = [*overrides, *REQUEST_PATH_OVERRIDES, *args.overrides]
            (base,), _ = start_app(request_overrides, f"bench{suffix}")
            results = [measure_size(service, base, n, args) for n in args.nodes]
        if fake_api is not None:
            watch_overrides = [
                *overrides,
                f"serve.deployment.num_replicas={args.replicas}",
                *args.overrides,
                "serve.node_source=watch",
                f"serve.kube_api.api_server={fake_api.url}",
            ]
            app_name = f"watch{suffix}"
            bases, proxy_base = start_app(watch_overrides, app_name)
            for base in bases:
                wait_for_watch_sync(base, max(args.nodes))
            proxy = proxy_base if direct else None
            watch_results = [
                measure_watch(service, app_name, bases, n, args, proxy) for n in args.nodes
            ]
            if args.kill_replica and not suffix:
                body = names_body(bench_args(max(args.nodes), args.seed))
                failure = replica_failure(
                    app_name,
                    bases,
                    body,
                    args.clients,
                    args.kill_rate,
                    args.kill_seconds,
                    args.kill_wait_s,
                )
                failure["nodes"] = max(args.nodes)
    finally:
        for name in names:
            serve.delete(name)
    met = goals(watch_results)
    measured = {
        "forecaster": policy.forecaster is not None,
        "results": results,
        "watch_results": watch_results,
        "fallbacks": sum(r["fallbacks"] for r in [*results, *watch_results]),
        "goals": met,
        "goals_met": bool(met) and all(c["met"] for g in met.values() for c in g.values()),
    }
    if failure is not None:
        measured["replica_failure"] = failure
    return measured


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 on a bad option or config."""
    return run_benchmark(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
