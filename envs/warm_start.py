"""Warm start: tasks already running when an episode begins, so it starts near steady state.

Per env, about target_utilization of the total CPU capacity is requested by tasks caught mid-run,
spread over a random share of hosts (warm_start_hosts_on) in proportion to their capacity; a
task that would not fit its drawn host is dropped. Hosts left empty start switched off.
"""

import numpy as np

from envs.config import SyntheticWorkloadConfig
from envs.hosts import ON, HostArrays
from envs.slots import SlotTable
from envs.workloads import Workload


def warm_start(
    hosts: HostArrays,
    running: SlotTable,
    workload: Workload,
    rngs: list[np.random.Generator],
    start_s: np.ndarray,
    settings: SyntheticWorkloadConfig,
) -> None:
    """Fill empty `hosts` and `running` with already-running tasks (settings: target_utilization,
    warm_start_hosts_on; any workload config with those fields)."""
    target_utilization, hosts_on_share = settings.target_utilization, settings.warm_start_hosts_on
    num_hosts = hosts.cpu_capacity.shape[1]
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("env", "host", "cpu", "mem", "usage", "end_s")
    }
    for env, rng in enumerate(rngs):
        capacity = hosts.cpu_capacity[env]
        n = int(round(target_utilization * capacity.sum() / workload.mean_cpu))
        if n == 0:
            continue
        tasks = workload.sample_running(rng, n)
        on = rng.permutation(num_hosts)[: max(1, int(round(hosts_on_share * num_hosts)))]
        host = rng.choice(on, size=n, p=capacity[on] / capacity[on].sum())
        keep = _fits_in_order(host, tasks["cpu"], tasks["mem"], hosts, env)
        parts["env"].append(np.full(keep.sum(), env, np.int64))
        parts["host"].append(host[keep])
        parts["cpu"].append(tasks["cpu"][keep])
        parts["mem"].append(tasks["mem"][keep])
        parts["usage"].append(tasks["cpu"][keep] * tasks["usage_factor"][keep])
        parts["end_s"].append(start_s[env] + tasks["duration_s"][keep].astype(np.float64))
    if not parts["env"]:
        return
    rows = {k: np.concatenate(v) for k, v in parts.items()}
    hosts.add_many(rows["env"], rows["host"], rows["cpu"], rows["mem"], rows["usage"])
    hosts.power_state[hosts.num_tasks > 0] = ON
    running.fill(rows["env"], {k: rows[k] for k in ("host", "cpu", "mem", "usage", "end_s")})


def _fits_in_order(host, cpu, mem, hosts: HostArrays, env: int) -> np.ndarray:
    """Keep tasks whose running total on their host (in draw order) stays within capacity."""
    order = np.argsort(host, kind="stable")
    h = host[order]
    starts = np.r_[0, np.flatnonzero(np.diff(h)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(h)]))
    keep_sorted = np.ones(len(h), bool)
    for values, capacity in ((cpu, hosts.cpu_capacity), (mem, hosts.mem_capacity)):
        total = np.cumsum(values[order].astype(np.float64))
        within = total - np.r_[0.0, total][group_start]
        keep_sorted &= within <= capacity[env, h]
    keep = np.empty(len(h), bool)
    keep[order] = keep_sorted
    return keep
