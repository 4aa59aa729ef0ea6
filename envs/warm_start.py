"""Warm start: tasks already running when an episode begins, so it starts near steady state.

A workload with a recorded state (a trace cell) gives its running tasks and their machines.
Otherwise, per env, about target_utilization of the total CPU capacity is requested by tasks
caught mid-run, spread over a random share of hosts (warm_start_hosts_on) in proportion to their
capacity. Either way a task that would not fit its host (in order, within the overcommitted
limits) is dropped, and counted. Hosts left empty start switched off. Their run time so far is
unknown, so the estimator never learns from them; decisions believe each ends after what
env.knowledge allows them to assume from the start.
"""

import numpy as np

from envs.duration_knowledge import BELIEF_COLUMNS, DurationKnowledge
from envs.hosts import HostArrays
from envs.slots import SlotTable
from envs.usage import UsageModel
from envs.workloads import Workload

RUNNING_COLUMNS = (
    "host",
    "cpu",
    "mem",
    "factor",
    "z",
    "usage",
    "usage_n",
    "usage_sum",
    "end_s",
    "est_end_s",
    "run_s",
    "priority",
    "owner",
    "task_class",
)


def warm_start(
    knowledge: DurationKnowledge,
    hosts: HostArrays,
    running: SlotTable,
    workload: Workload,
    rngs: list[np.random.Generator],
    start_s: np.ndarray,
    settings,
    usage: UsageModel,
    usage_rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill empty `hosts` and `running` with already-running tasks (settings: the workload config,
    for target_utilization and warm_start_hosts_on). Returns per env (tasks running at start,
    tasks dropped because they did not fit)."""
    num_envs, num_hosts = hosts.cpu_capacity.shape
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("env", *RUNNING_COLUMNS)}
    started = np.zeros(num_envs, np.int64)
    dropped = np.zeros(num_envs, np.int64)
    for env, rng in enumerate(rngs):
        capacity = hosts.cpu_capacity[env]
        recorded = workload.running_at_start(rng)
        if recorded is not None:
            tasks, host = recorded
            unknown = host < 0
            # Only tasks whose machine is not in the cell lack a host: they cannot stay.
            host = np.where(unknown, 0, host)
        else:
            n = int(round(settings.target_utilization * capacity.sum() / workload.mean_cpu))
            if n == 0:
                continue
            tasks = workload.sample_running(rng, n)
            share = max(1, int(round(settings.warm_start_hosts_on * num_hosts)))
            on = rng.permutation(np.flatnonzero(capacity > 0))[:share]
            host = rng.choice(on, size=n, p=capacity[on] / capacity[on].sum())
            unknown = np.zeros(n, bool)
        keep = _fits_in_order(host, tasks["cpu"], tasks["mem"], hosts, env) & ~unknown
        started[env], dropped[env] = keep.sum(), (~keep).sum()
        parts["env"].append(np.full(keep.sum(), env, np.int64))
        parts["host"].append(host[keep])
        for name, column in (("cpu", "cpu"), ("mem", "mem"), ("factor", "usage_factor")):
            parts[name].append(tasks[column][keep])
        parts["end_s"].append(start_s[env] + tasks["duration_s"][keep].astype(np.float64))
        kept = {k: tasks[k][keep] for k in BELIEF_COLUMNS}
        believed, _ = knowledge.believed(np.full(keep.sum(), env, np.int64), kept)
        parts["est_end_s"].append(start_s[env] + believed)
        parts["run_s"].append(np.full(keep.sum(), np.nan, np.float32))
        for name in ("priority", "owner", "task_class"):
            parts[name].append(kept[name])
    if not parts["env"]:
        return started, dropped
    rows = {k: np.concatenate(v) for k, v in parts.items() if v}
    rows["z"] = usage_rng.standard_normal(len(rows["env"])).astype(np.float32)
    rows["usage"] = usage.usage(rows["cpu"], rows["factor"], rows["z"]).astype(np.float32)
    rows["usage_n"] = np.ones(len(rows["env"]), np.int32)  # their usage now is all that is seen
    rows["usage_sum"] = rows["usage"].astype(np.float64)
    hosts.add_many(rows["env"], rows["host"], rows["cpu"], rows["mem"], rows["usage"])
    hosts.switch_on(hosts.num_tasks > 0)
    running.fill(rows["env"], {k: rows[k] for k in RUNNING_COLUMNS})
    return started, dropped


def _fits_in_order(host, cpu, mem, hosts: HostArrays, env: int) -> np.ndarray:
    """Keep tasks whose running total on their host (in order) stays within its limits."""
    order = np.argsort(host, kind="stable")
    h = host[order]
    starts = np.r_[0, np.flatnonzero(np.diff(h)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(h)]))
    keep_sorted = np.ones(len(h), bool)
    for values, limit in ((cpu, hosts.cpu_limit), (mem, hosts.mem_limit)):
        total = np.cumsum(values[order].astype(np.float64))
        within = total - np.r_[0.0, total][group_start]
        keep_sorted &= within <= limit[env, h]
    keep = np.empty(len(h), bool)
    keep[order] = keep_sorted
    return keep
