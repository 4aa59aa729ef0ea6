"""A synthetic Kubernetes cluster for the serve bench: Node objects as kube-scheduler and the
API server send them, the ExtenderArgs of a pod over them, and a fake API server that lists them.
"""

import http.server
import json
import threading
import urllib.parse
from typing import Any

import numpy as np

CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable", "Ready")


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


def names_body(doc: dict[str, Any]) -> bytes:
    """The NodeNames-only ExtenderArgs of a full one (nodeCacheCapable: true)."""
    names = [n["metadata"]["name"] for n in doc["Nodes"]["items"]]
    return json.dumps({"Pod": doc["Pod"], "NodeNames": names}).encode()


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
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if query.get("watch", [""])[0] not in ("1", "true"):
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
