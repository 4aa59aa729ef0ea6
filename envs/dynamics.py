"""Time between decisions: energy/carbon/SLA integration and events (boots, finishes, usage
changes with migrations, the power manager's control, sleeps).

Between two stops the host state is held constant (piecewise-constant integration over the
per-env totals HostArrays keeps); a stop is the next decision, a usage period boundary, a power
control boundary (env.power.manager=forecast), or max_integration_step_s later. Events that
fall due inside an interval take effect at its end, as in CloudSim's scheduling intervals.
"""

from typing import Any

import numpy as np

from envs.demand_history import DEPARTURES
from envs.hosts import (
    EXCESS,
    HOSTS_ON,
    OVERLOADED,
    REQUESTED,
    USAGE,
    UTILIZATION,
    WATTS,
    HostArrays,
)
from envs.metrics import EnvMetrics
from envs.migration import migrate_overloaded

J_PER_KWH = 3.6e6


def integrate(
    hosts: HostArrays, intensity_g_per_kwh: np.ndarray, dt: np.ndarray, metrics: EnvMetrics
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accumulate dt[b] seconds of the current state; returns (kWh, kg CO2e, overloaded host-s)."""
    # Incremental totals may drift by rounding to a hair below zero; nothing here is negative.
    rates = np.maximum(hosts.rates, 0.0) * dt[:, None]
    kwh = rates[:, WATTS] / J_PER_KWH
    kg = kwh * intensity_g_per_kwh / 1000.0
    overloaded_s = rates[:, OVERLOADED]
    v = metrics.values
    v["elapsed_s"] += dt
    v["energy_kwh"] += kwh
    v["carbon_kg"] += kg
    v["overloaded_host_s"] += overloaded_s
    v["active_host_s"] += rates[:, HOSTS_ON]
    v["demand_cpu_s"] += rates[:, USAGE]
    v["unserved_cpu_s"] += rates[:, EXCESS]
    v["utilization_host_s"] += rates[:, UTILIZATION]
    v["requested_cpu_s"] += rates[:, REQUESTED]
    return kwh, kg, overloaded_s


def advance(sim: Any, envs: np.ndarray, target: np.ndarray) -> None:
    """Move the masked envs of `sim` (a VectorDatacenterEnv) to time target, integrating costs
    into sim._cost and processing the events that fall due."""
    cfg, w = sim.config, sim.config.reward
    while True:
        step_end = np.minimum(target, sim.now + cfg.max_integration_step_s)
        step_end = np.minimum(step_end, sim.next_tick_s)
        if sim.power_manager is not None:
            step_end = np.minimum(step_end, sim.power_manager.next_s)
        t_next = np.where(envs, step_end, sim.now)
        dt = t_next - sim.now
        if not (dt > 0).any():
            break
        kwh, kg, overloaded_s = integrate(sim.hosts, sim.carbon.at(sim.now), dt, sim.metrics_)
        sim._cost += w.w_energy * kwh + w.w_carbon * kg + w.w_sla * overloaded_s / 3600.0
        if sim.demand is not None:
            sim.demand.integrate(sim.hosts, sim.now, t_next)
        sim.now = t_next
        if sim.timeline is not None:
            sim.timeline.record(sim.now, sim.metrics_)
        process_events(sim, envs)


def process_events(sim: Any, envs: np.ndarray) -> None:
    """At time sim.now[b] for the masked envs: finish boots and tasks, change usage (and
    migrate) at period boundaries, keep and wake hosts at power control boundaries, switch off
    the other hosts idle for idle_timeout_s."""
    hosts, now = sim.hosts, sim.now
    due = np.flatnonzero(envs & (hosts.next_boot_s <= now))
    if due.size:
        hosts.finish_boots(due, now)
    due = np.flatnonzero(envs & (sim.finishes.next_s <= now))
    if due.size:
        finish_tasks(sim, *sim.finishes.pop_due(due, now))
    due = np.flatnonzero(envs & (sim.next_tick_s <= now))
    if due.size:
        usage_period(sim, due)
    manager = sim.power_manager
    if manager is not None:
        due = np.flatnonzero(envs & (manager.next_s <= now))
        if due.size:
            manager.control(sim, due)
    due = np.flatnonzero(envs & (hosts.next_sleep_s <= now))
    if due.size:
        hosts.sleep_idle(due, now)


def usage_period(sim: Any, envs: np.ndarray) -> None:
    """At a usage period boundary of `envs` (indices): new usage, then migrations."""
    hosts, now = sim.hosts, sim.now
    sim.usage_model.redraw(sim.usage_rng, sim.running, hosts, envs)
    sim.next_tick_s[envs] = sim.usage_model.next_tick_s(now[envs])
    if not sim.config.migration.enabled:
        return
    for env in envs.tolist():
        moved, degraded = migrate_overloaded(
            hosts, sim.running, env, now, sim.config.migration, sim.commitments.until
        )
        sim.metrics_["migrations"][env] += moved
        sim.metrics_["migration_degraded_cpu_s"][env] += degraded
        sim._cost[env] += sim.config.reward.w_migration * moved


def finish_tasks(sim: Any, env_idx: np.ndarray, slot: np.ndarray) -> None:
    """Remove these (env, slot) running tasks, popped from sim.finishes."""
    if env_idx.size == 0:
        return
    running = sim.running
    sim.knowledge.observe_finished(running, env_idx, slot)
    sim.usage_forecast.finish(running, env_idx, slot)
    if sim.demand is not None:
        sim.demand.count(env_idx, running["host"][env_idx, slot], DEPARTURES)
    sim.hosts.add_many(
        env_idx,
        running["host"][env_idx, slot].astype(np.int64),
        running["cpu"][env_idx, slot],
        running["mem"][env_idx, slot],
        running["usage"][env_idx, slot],
        sign=-1,
        now=sim.now,
    )
    running.remove(env_idx, slot)
