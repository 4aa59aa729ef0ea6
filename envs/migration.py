"""Live migration of tasks off overloaded hosts, as CloudSim's THR-MMT-PABFD policy.

Run every usage period (when usage changes): a switched-on host whose CPU usage exceeds
overload_threshold * capacity is overloaded (THR). From each, tasks are chosen smallest memory
first (MMT: minimum migration time) until the host would drop to the threshold; then, largest
usage first, each goes to the switched-on host whose power rises least (PABFD) among those that
can take its request and stay at or under the threshold. A task no host can take stays.
Moves are immediate; a migration costs `degradation` of the task's usage (at most its request,
as a CloudSim VM cannot use more than its MIPS) for mem * s_per_mem seconds, or what is left of
its run if shorter (CloudSim: 10% during the copy), which PDM sums.
"""

import numpy as np

from envs.hosts import ON, HostArrays
from envs.slots import SlotTable
from marl_alloc.floor.settings.env import MigrationConfig


def choose_migrations(
    hosts: HostArrays, running: SlotTable, env: int, threshold: float, limit: int
) -> np.ndarray:
    """Slots of env's running tasks to move off its overloaded hosts, largest usage first."""
    limit_usage = threshold * hosts.cpu_capacity[env]
    overloaded = (hosts.power_state[env] == ON) & (hosts.cpu_usage[env] > limit_usage)
    if not overloaded.any():
        return np.zeros(0, np.int64)
    slots = np.flatnonzero(running.active[env])
    host = running["host"][env, slots]
    on_overloaded = overloaded[host]
    slots, host = slots[on_overloaded], host[on_overloaded]
    mem = running["mem"][env, slots]
    order = np.lexsort((slots, mem, host))  # per host, smallest memory first
    slots, host = slots[order], host[order]
    usage = running["usage"][env, slots].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, host[1:] != host[:-1]])
    total = np.cumsum(usage)
    before = total - usage - np.repeat((total - usage)[starts], np.diff(np.r_[starts, len(host)]))
    excess = hosts.cpu_usage[env, host] - limit_usage[host]
    chosen = slots[before < excess]
    chosen_usage = running["usage"][env, chosen]
    return chosen[np.argsort(-chosen_usage, kind="stable")][:limit]


def migrate_overloaded(
    hosts: HostArrays,
    running: SlotTable,
    env: int,
    now: np.ndarray,
    config: MigrationConfig,
    until: np.ndarray,
) -> tuple[int, float]:
    """Move tasks of env off its overloaded hosts; returns (migrations, CPU-seconds degraded).
    `until` (HostCommitments.until) learns that each target now holds its task to the end."""
    chosen = choose_migrations(
        hosts, running, env, config.overload_threshold, config.max_per_period
    )
    moved, degraded = 0, 0.0
    if chosen.size == 0:
        return moved, degraded
    power = hosts.power
    capacity, inv_cpu = hosts.cpu_capacity[env], hosts.inv_cpu[env]
    limit_usage = config.overload_threshold * capacity
    envs = np.array([env], np.int64)
    for slot in chosen.tolist():
        source = int(running["host"][env, slot])
        cpu = float(running["cpu"][env, slot])
        mem = float(running["mem"][env, slot])
        usage = float(running["usage"][env, slot])
        current = hosts.cpu_usage[env]
        after = current + usage
        ok = (
            (hosts.power_state[env] == ON)
            & (hosts.cpu_free[env] >= cpu)
            & (hosts.mem_free[env] >= mem)
            & (after <= limit_usage)
        )
        ok[source] = False
        if not ok.any():
            continue
        increase = power.watts(after * inv_cpu) - power.watts(current * inv_cpu)
        # Ties (same power increase) go to the fullest host, as in best-fit decreasing.
        score = np.where(ok, increase - 1e-3 * current * inv_cpu, np.inf)
        target = int(np.argmin(score))
        values = (np.array([cpu]), np.array([mem]), np.array([usage]))
        hosts.add_many(envs, np.array([source]), *values, sign=-1, now=now)
        hosts.add_many(envs, np.array([target]), *values, sign=1)
        running["host"][env, slot] = target
        believed_end_s = float(running["est_end_s"][env, slot])
        until[env, target] = max(until[env, target], believed_end_s + hosts.idle_timeout_s)
        moved += 1
        copy_s = min(mem * config.s_per_mem, float(running["end_s"][env, slot] - now[env]))
        degraded += config.degradation * min(usage, cpu) * max(copy_s, 0.0)
    return moved, degraded
