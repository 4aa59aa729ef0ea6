"""The serve bench's view of the replicas' processes: which process serves which port, and the
CPU time a load costs them (a figure other work on the machine moves far less than wall time:
pods/s that two otherwise idle cores could sustain is about 2,000 ms over the CPU ms per pod).
"""

import time
from typing import Any

import psutil

from marl_alloc.bench.serve_client import PodLoad


def replica_pids(app_name: str) -> dict[int, int]:
    """The direct-ingress port -> process id of each running replica of `app_name`."""
    from ray import serve

    details = serve.context._get_global_client().get_serve_details()
    pids = {
        replica["actor_name"]: replica["pid"]
        for deployment in details["applications"][app_name]["deployments"].values()
        for replica in deployment["replicas"]
        if replica.get("pid")  # a starting replica has none yet
    }
    return {
        target["port"]: pids[target["name"]]
        for group in details.get("target_groups", [])
        if group.get("app_name") == app_name and group.get("protocol") == "HTTP"
        for target in group["targets"]
        if target["name"] in pids
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def run_with_cpu(load: PodLoad, app_name: str) -> dict[str, Any]:
    """`load`'s figures, with the CPU milliseconds per pod the app's replicas and this process
    (the bench's clients) spent on it."""
    pids = list(replica_pids(app_name).values())
    replicas, client = cpu_seconds(pids), time.process_time()
    figures = load.run()
    pods = max(figures["pods"], 1)
    figures["replica_cpu_ms_per_pod"] = round((cpu_seconds(pids) - replicas) / pods * 1e3, 2)
    figures["client_cpu_ms_per_pod"] = round((time.process_time() - client) / pods * 1e3, 2)
    return figures
