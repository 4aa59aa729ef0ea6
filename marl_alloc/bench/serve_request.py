"""The serve bench's request path (`--paths request`): full Node objects in every call, the
deadline lifted so that every answer is the policy's (see marl_alloc.bench.serve)."""

import argparse
import json
import time
from typing import Any

from marl_alloc.bench.serve_client import (
    KeepAliveClient,
    PodLoad,
    fallback_count,
    percentiles_ms,
    server_timing_figures,
    time_http,
)
from marl_alloc.bench.serve_cluster import bench_args, names_body

# The request path measures the policy's compute: no answer from the fallback.
REQUEST_PATH_OVERRIDES = ["serve.deployment.num_replicas=1", "serve.deadline_ms=10000"]
# Request bodies cycled through so that every node object changed since the previous call.
CHANGED_VARIANTS = 3
WARMUP_CALLS = 20


def measure_size(service, base: str, num_nodes: int, args: argparse.Namespace) -> dict[str, Any]:
    """Handler, HTTP, throughput and node-name figures for one node count, full Node objects."""
    docs = [bench_args(num_nodes, args.seed + k, version=k) for k in range(CHANGED_VARIANTS)]
    bodies = [json.dumps(doc).encode() for doc in docs]
    body = bodies[0]
    fallbacks_before = fallback_count([base])
    handler = []
    for _ in range(min(args.requests, 100) + 5):
        start = time.perf_counter()
        status, expected = service.handle("prioritize", body)
        handler.append(time.perf_counter() - start)
    assert status == 200
    client = KeepAliveClient(base)
    try:
        time_http(client, "prioritize", [body], WARMUP_CALLS)  # connection, node cache
        same = time_http(client, "prioritize", [body], args.requests)
        changed = time_http(client, "prioritize", bodies, args.requests)
        time_http(client, "prioritize", [body], 1)  # the node cache holds docs[0]'s nodes again
        by_name = time_http(client, "prioritize", [names_body(docs[0])], min(args.requests, 100))
    finally:
        client.close()
    concurrent = PodLoad([base], body, args.clients, args.sustain_s).run()
    timings = same["server_timing"]
    overhead = [
        seconds - t["handler"] / 1e3
        for seconds, t in zip(same["latencies"], timings, strict=True)
        if "handler" in t
    ]
    return {
        "nodes": num_nodes,
        "request_bytes": len(body),
        "requests": args.requests,
        "http_ms": percentiles_ms(same["latencies"]),
        "requests_per_s": round(len(same["latencies"]) / sum(same["latencies"]), 1),
        **server_timing_figures(timings),
        "overhead_ms": percentiles_ms(overhead),
        "concurrent": concurrent,
        "http_changed_nodes_ms": percentiles_ms(changed["latencies"]),
        "handler_ms": percentiles_ms(handler[5:]),
        "node_names_http_ms": percentiles_ms(by_name["latencies"]),
        "fallbacks": fallback_count([base]) - fallbacks_before,
        "answers_match_in_process": json.loads(same["answer"]) == json.loads(expected),
    }
