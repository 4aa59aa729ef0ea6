"""Time between decisions: energy/carbon/SLA integration and host events (boot, finish, sleep).

Between two events the host state is held constant (piecewise-constant integration); the env
splits long gaps into steps of at most `max_integration_step_s`.
"""

import numpy as np

from envs.hosts import BOOTING, OFF, ON, HostArrays
from envs.metrics import EnvMetrics
from envs.power import PowerModel
from envs.slots import SlotTable

J_PER_KWH = 3.6e6


def integrate(
    hosts: HostArrays,
    power: PowerModel,
    intensity_g_per_kwh: np.ndarray,
    dt: np.ndarray,
    metrics: EnvMetrics,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accumulate dt[b] seconds of the current state; returns (kWh, kg CO2e, overloaded host-s)."""
    on = hosts.power_state == ON
    utilization = hosts.cpu_usage / hosts.cpu_capacity
    # A booting host draws idle power and runs nothing yet.
    watts = np.where(on, power.watts(utilization), 0.0)
    watts += (hosts.power_state == BOOTING) * power.idle_watts
    kwh = watts.sum(axis=1) * dt / J_PER_KWH
    kg = kwh * intensity_g_per_kwh / 1000.0
    over = on & (hosts.cpu_usage >= hosts.cpu_capacity)
    overloaded_s = over.sum(axis=1) * dt
    usage_on = np.where(on, hosts.cpu_usage, 0.0)
    v = metrics.values
    v["elapsed_s"] += dt
    v["energy_kwh"] += kwh
    v["carbon_kg"] += kg
    v["overloaded_host_s"] += overloaded_s
    v["active_host_s"] += on.sum(axis=1) * dt
    v["demand_cpu_s"] += usage_on.sum(axis=1) * dt
    excess = np.maximum(usage_on - hosts.cpu_capacity, 0.0)
    v["unserved_cpu_s"] += excess.sum(axis=1) * dt
    v["utilization_host_s"] += np.where(on, np.minimum(utilization, 1.0), 0.0).sum(axis=1) * dt
    return kwh, kg, overloaded_s


def process_events(
    hosts: HostArrays,
    running: SlotTable,
    now: np.ndarray,
    envs: np.ndarray,
    idle_timeout_s: float,
) -> None:
    """At time now[b] for the masked envs: finish boots and tasks, switch off idle hosts."""
    booted = (hosts.power_state == BOOTING) & (hosts.boot_done_s <= now[:, None]) & envs[:, None]
    hosts.power_state[booted] = ON
    finished = running.active & (running["end_s"] <= now[:, None]) & envs[:, None]
    if finished.any():
        env_idx, slot = np.nonzero(finished)
        host = running["host"][env_idx, slot].astype(np.int64)
        hosts.add_many(
            env_idx,
            host,
            running["cpu"][env_idx, slot],
            running["mem"][env_idx, slot],
            running["usage"][env_idx, slot],
            sign=-1,
        )
        running.remove(env_idx, slot)
        emptied = np.zeros(hosts.num_tasks.shape, bool)
        emptied[env_idx, host] = True
        emptied &= hosts.num_tasks == 0
        hosts.idle_since_s[:] = np.where(emptied, now[:, None], hosts.idle_since_s)
    idle_for = now[:, None] - hosts.idle_since_s
    asleep = (
        (hosts.power_state == ON)
        & (hosts.num_tasks == 0)
        & (idle_for >= idle_timeout_s)
        & envs[:, None]
    )
    hosts.power_state[asleep] = OFF
