"""`python -m marl_alloc.bench serve --kill-replica`: one of the extender's replicas dies under
load.

A paced pod load (`--kill-rate` pods/s, `--clients` threads spread over the replicas' own ports)
runs for `--kill-seconds`; a third of the way in, one replica's process gets SIGKILL, as an OOM
kill or a node problem would. Clients whose replica is gone move to the next one (as a Service
moves off a dead endpoint) and send the pod again: those calls count as `unreachable`. The
report says what the survivors answered (HTTP statuses: no 5xx is the goal), the fallbacks they
and the successor counted, how long until the successor Serve starts answered /healthz, and
whether on the dead replica's port.

Ray Serve 2.60 binds a direct-ingress port without SO_REUSEADDR, so the successor gets the dead
replica's port only if no connection of it is left in TCP TIME_WAIT (a minute): one the replica
closed first, or one a client closed after the replica died mid-request, as kube-scheduler's does.
Serve then blocks that port and hands the successor the next free one. The bench's own status
calls close their connections first so as not to add to that.
"""

import os
import signal
import threading
import time
import urllib.parse
from typing import Any

from marl_alloc.bench.serve_client import UNREACHABLE, PodLoad, get_json
from marl_alloc.bench.serve_replicas import replica_pids

PORT_POLL_S = 0.2


def stats(base: str) -> dict[str, Any] | None:
    """A replica's /stats, None while it does not answer."""
    try:
        return get_json(f"{base}stats")
    except (*UNREACHABLE, ValueError):
        return None


def healthy(base: str) -> bool:
    """The replica at `base` answers /healthz with 200 (its nodes listed)."""
    try:
        get_json(f"{base}healthz", timeout_s=2)
        return True
    except (*UNREACHABLE, ValueError):
        return False


def fallbacks(stats_doc: dict[str, Any] | None) -> int:
    """The fallbacks a replica counted."""
    return int((stats_doc or {}).get("counts", {}).get("fallbacks", 0))


def replica_failure(
    app_name: str,
    bases: list[str],
    body: bytes,
    clients: int,
    rate: float,
    seconds: float,
    wait_s: float,
) -> dict[str, Any]:
    """Kill the last of `bases`' replicas a third into a paced load (see the module docstring);
    wait up to `wait_s` after the kill for its successor to answer /healthz."""
    victim = bases[-1]
    parts = urllib.parse.urlsplit(victim)
    pid = replica_pids(app_name)[parts.port]
    before = {base: fallbacks(stats(base)) for base in bases[:-1]}
    load = PodLoad(bases, body, clients, seconds, rate)
    figures: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: figures.update(load.run()))
    runner.start()
    time.sleep(seconds / 3)
    killed = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    successor, back_s = None, None
    while back_s is None and time.perf_counter() - killed < wait_s:
        successor = successor or successor_base(app_name, bases, pid, parts)
        if successor is not None and healthy(successor):
            back_s = round(time.perf_counter() - killed, 2)
        else:
            time.sleep(PORT_POLL_S)
    runner.join()
    counted = sum(fallbacks(stats(base)) - before[base] for base in bases[:-1])
    return {
        "replicas": len(bases),
        "target_pods_per_s": rate,
        "killed_at_s": round(seconds / 3, 2),
        **figures,
        "server_errors": sum(n for code, n in figures["statuses"].items() if code.startswith("5")),
        # The survivors' and the successor's (a dead replica's own counts die with it).
        "fallbacks": counted + (fallbacks(stats(successor)) if back_s is not None else 0),
        "replica_back_s": back_s,
        "replica_back_on_its_port": back_s is not None and successor == victim,
    }


def successor_base(
    app_name: str, bases: list[str], dead_pid: int, victim: urllib.parse.SplitResult
) -> str | None:
    """The base URL of the replica that took the dead one's place, once Serve lists it."""
    known = {urllib.parse.urlsplit(base).port for base in bases[:-1]}
    for port, pid in replica_pids(app_name).items():
        if pid != dead_pid and port not in known:
            return victim._replace(netloc=f"{victim.hostname}:{port}").geturl()
    return None
