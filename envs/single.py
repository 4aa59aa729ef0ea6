"""One datacenter with scalar bookkeeping: VectorDatacenterEnv.step_hosts when num_envs == 1.

The vectorized cycle makes ~150 numpy calls whatever B is. With one datacenter the size of a
Google cell they are all overhead next to the two O(hosts) scans a placement needs (which hosts
fit, and the policy's pick), so evaluation on a trace cell runs the same cycle here with Python
scalars for the per-task bookkeeping, and the vectorized code for what is rare (boots, usage
periods with migrations, sleeps, deferrals, many tasks ending at once). Tests check that both
paths give the same metrics.
"""

from typing import Any

import numpy as np

from envs.commitment import overload_hours
from envs.demand_history import ARRIVALS, DEPARTURES
from envs.dynamics import J_PER_KWH, finish_tasks, usage_period
from envs.errors import InvalidActionError
from envs.hosts import (
    BOOTING,
    EXCESS,
    HOSTS_ON,
    OFF,
    OVERLOADED,
    REQUESTED,
    USAGE,
    UTILIZATION,
    WATTS,
)

ENV0 = np.zeros(1, np.int64)
# Up to this many tasks ending together are removed one by one; more go through bincounts.
SCALAR_FINISHES = 16


def step_hosts_one(sim: Any, host: int) -> None:
    """Place (host >= 0) or defer (-1) the pending task of env 0, then load its next task."""
    if sim.has_pending[0]:
        if host < 0:
            if not sim._can_defer()[0]:
                raise InvalidActionError(
                    "env 0's task cannot be deferred; choose among feasible_hosts"
                )
            sim._defer(ENV0)
        else:
            if not (0 <= host < sim.topology.num_hosts and sim.feasible_hosts[0, host]):
                raise InvalidActionError(
                    f"host {host} for env 0 is not allowed (the task does not fit it); "
                    "choose among feasible_hosts"
                )
            place_one(sim, host)
    next_task_one(sim)


def place_one(sim: Any, host: int) -> None:
    """Start env 0's pending task on `host` (waking it if it sleeps)."""
    h, cfg, p = sim.hosts, sim.config, sim.pending
    now = float(sim.now[0])
    state = h.power_state[0, host]
    if state == OFF:
        h.power_state[0, host] = BOOTING
        start = now + h.boot_delay_s
        h.boot_done_s[0, host] = start
        if start < h.next_boot_s[0]:
            h.next_boot_s[0] = start
    elif state == BOOTING:
        start = float(h.boot_done_s[0, host])
    else:
        start = now
    cpu, mem, factor = p["cpu"][0], p["mem"][0], p["usage_factor"][0]
    overload_h = overload_hours(
        sim.overcommit_usage()[0, host],
        cpu * cfg.workload.usage_factor_mean,
        h.cpu_capacity[0, host],
        p["duration_est_s"][0],
    )
    z = np.float32(sim.usage_rng.standard_normal())
    usage = np.float32(sim.usage_model.usage(cpu, factor, z))
    h.place_one(0, host, cpu, mem, usage)
    if sim.demand is not None:
        sim.demand.count(ENV0, np.array([host]), ARRIVALS)
    end_s = start + float(p["duration_s"][0])
    # Decisions and their charges know only the believed end, never the true one.
    est_end_s = start + float(p["duration_est_s"][0])
    kwh = sim.commitments.commit_kwh(ENV0, np.array([host]), est_end_s, state == OFF, sim.now[:1])
    if sim.charges_commitments:
        sim._cost[0] += float(sim.commit_charge(ENV0, kwh, overload_h)[0])
    row = {"host": host, "cpu": cpu, "mem": mem, "factor": factor, "z": z, "usage": usage}
    row |= {"usage_n": 1, "usage_sum": usage}
    row |= {"end_s": end_s, "est_end_s": est_end_s, "run_s": p["duration_s"][0]}
    row |= {k: p[k][0] for k in ("priority", "owner", "task_class")}
    slot = sim.running.insert_one(0, row)
    sim.usage_forecast.place(sim.running, ENV0, slot)
    sim.finishes.push_one(0, end_s, slot)
    w = cfg.workload
    limit = w.deferrable_deadline_s if p["deferrable"][0] else w.slo_s
    values = sim.metrics_.values
    values["tasks_placed"][0] += 1
    values["task_cpu_s"][0] += float(cpu) * float(p["duration_s"][0])
    if start - float(p["arrival_s"][0]) > limit:
        values["slo_violations"][0] += 1
        sim._cost[0] += cfg.reward.w_wait
    sim.has_pending[0] = False


def next_task_one(sim: Any) -> None:
    """Advance env 0 to its next arrival or deferred task and make it pending (rejecting tasks
    nothing can take and that cannot wait)."""
    values, cfg = sim.metrics_.values, sim.config
    while not sim.done[0] and not sim.has_pending[0]:
        t_arrival = sim.arrivals.next_one(0)
        t_resubmit, slot = np.inf, 0
        if sim.deferred.count[0]:
            resubmit = np.where(sim.deferred.active[0], sim.deferred["resubmit_s"][0], np.inf)
            slot = int(np.argmin(resubmit))
            t_resubmit = float(resubmit[slot])
        t_event = min(t_arrival, t_resubmit)
        if np.isinf(t_event):
            sim.end_episodes(np.ones(1, bool))
            break
        advance_one(sim, max(float(sim.now[0]), t_event))
        if t_resubmit <= t_arrival:
            sim._load(ENV0, np.array([slot]))
        else:
            row = sim.arrivals.pop_one(0)
            for name, value in row.items():
                sim.pending[name][0] = value
            sim.pending["defers"][0] = 0
            sim.knowledge.believe_pending(sim.pending, ENV0)
            values["tasks_total"][0] += 1
            sim.last_arrival_s[0] = row["arrival_s"]
            sim.has_pending[0] = True
        if not feasible_one(sim) and not sim._can_defer()[0]:
            values["tasks_rejected"][0] += 1
            sim._cost[0] += cfg.reward.w_reject
            sim.has_pending[0] = False


def feasible_one(sim: Any) -> bool:
    """`_feasible` of env 0 (which has a pending task): updates feasible_hosts."""
    h, p, top = sim.hosts, sim.pending, sim.topology
    fit = h.cpu_free >= p["cpu"][0]
    fit &= h.mem_free >= p["mem"][0]
    if top.num_clusters > 1:
        by_cluster = fit.reshape(top.num_clusters, -1)
        own = int(p["cluster"][0])
        by_cluster[:own] = False
        by_cluster[own + 1 :] = False
    sim.feasible_hosts = fit
    return bool(fit.any())


def advance_one(sim: Any, target: float) -> None:
    """`dynamics.advance` of env 0 alone, with scalars."""
    h, cfg, w = sim.hosts, sim.config, sim.config.reward
    v = sim.metrics_.values
    now = float(sim.now[0])
    while True:
        step_end = min(target, now + cfg.max_integration_step_s, float(sim.next_tick_s[0]))
        if sim.power_manager is not None:
            step_end = min(step_end, float(sim.power_manager.next_s[0]))
        dt = step_end - now
        if not dt > 0:
            break
        rate = [max(r, 0.0) * dt for r in h.rates[0].tolist()]
        kwh = rate[WATTS] / J_PER_KWH
        kg = kwh * sim.carbon.at_one(now) / 1000.0
        v["elapsed_s"][0] += dt
        v["energy_kwh"][0] += kwh
        v["carbon_kg"][0] += kg
        v["overloaded_host_s"][0] += rate[OVERLOADED]
        v["active_host_s"][0] += rate[HOSTS_ON]
        v["demand_cpu_s"][0] += rate[USAGE]
        v["unserved_cpu_s"][0] += rate[EXCESS]
        v["utilization_host_s"][0] += rate[UTILIZATION]
        v["requested_cpu_s"][0] += rate[REQUESTED]
        sim._cost[0] += w.w_energy * kwh + w.w_carbon * kg + w.w_sla * rate[OVERLOADED] / 3600.0
        if sim.demand is not None:
            sim.demand.integrate(h, sim.now, np.array([step_end]))
        now = step_end
        sim.now[0] = now
        if sim.timeline is not None:
            sim.timeline.record(sim.now, sim.metrics_)
        events_one(sim, now)


def events_one(sim: Any, now: float) -> None:
    """`dynamics.process_events` of env 0 at time now."""
    h = sim.hosts
    if h.next_boot_s[0] <= now:
        h.finish_boots(ENV0, sim.now)
    if sim.finishes.next_s[0] <= now:
        env_idx, slots = sim.finishes.pop_due(ENV0, sim.now)
        if len(slots) > SCALAR_FINISHES:
            finish_tasks(sim, env_idx, slots)
        else:
            running = sim.running
            sim.knowledge.observe_finished(running, env_idx, slots)
            sim.usage_forecast.finish(running, env_idx, slots)
            if sim.demand is not None:
                sim.demand.count(np.zeros_like(slots), running["host"][0, slots], DEPARTURES)
            for slot in slots.tolist():
                h.remove_one(
                    0,
                    int(running["host"][0, slot]),
                    running["cpu"][0, slot],
                    running["mem"][0, slot],
                    running["usage"][0, slot],
                    now,
                )
                running.remove_one(0, slot)
    if sim.next_tick_s[0] <= now:
        usage_period(sim, ENV0)
    if sim.power_manager is not None and sim.power_manager.next_s[0] <= now:
        sim.power_manager.control(sim, ENV0)
    if h.next_sleep_s[0] <= now:
        h.sleep_idle(ENV0, sim.now)
