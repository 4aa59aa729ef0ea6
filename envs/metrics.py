"""EnvMetrics: per-env counters and time integrals (energy, carbon, SLA) of B datacenters.

SLA follows CloudSim (Beloglazov & Buyya 2012): SLATAH = overloaded host-time / active host-time,
where a host is overloaded while its CPU usage is at or above its capacity; PDM = CPU-time lost to
migrations / CPU-time the tasks started request over their run (CloudSim's C_d / C_r, summed over
tasks rather than averaged per task); SLAV = SLATAH * PDM. `unserved_cpu_share`
is the share of CPU demand on active hosts that could not be served (usage above capacity).
Task counts obey placed + rejected + deferred + pending == total at all times.
"""

import dataclasses

import numpy as np

# deferrals counts defer decisions (a task deferred twice counts twice); tasks_deferred, in
# report(), the tasks still waiting to come back.
COUNTERS = (
    "tasks_total",
    "tasks_placed",
    "tasks_rejected",
    "slo_violations",
    "migrations",
    "deferrals",
)
INTEGRALS = (
    "elapsed_s",
    "energy_kwh",
    "carbon_kg",
    "active_host_s",
    "overloaded_host_s",
    "demand_cpu_s",
    "unserved_cpu_s",
    "utilization_host_s",
    "requested_cpu_s",
    "task_cpu_s",
    "migration_degraded_cpu_s",
)


@dataclasses.dataclass
class EnvMetrics:
    """Counters (int64[B]) and integrals (float64[B]) since the last reset."""

    values: dict[str, np.ndarray]

    @classmethod
    def zeros(cls, num_envs: int) -> "EnvMetrics":
        """All metrics at zero."""
        values = {k: np.zeros(num_envs, np.int64) for k in COUNTERS}
        values |= {k: np.zeros(num_envs, np.float64) for k in INTEGRALS}
        return cls(values)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        self.values[name][:] = value

    def reset(self, carried_tasks: np.ndarray) -> None:
        """Start a new window; tasks still deferred or pending carry over into its total."""
        for value in self.values.values():
            value[:] = 0
        self.values["tasks_total"][:] = carried_tasks

    def report(self, tasks_deferred: np.ndarray, tasks_pending: np.ndarray) -> dict:
        """Per-env metrics as arrays of shape [B]."""
        v = self.values
        active = np.maximum(v["active_host_s"], 1e-12)
        slatah = v["overloaded_host_s"] / active
        pdm = v["migration_degraded_cpu_s"] / np.maximum(v["task_cpu_s"], 1e-12)
        return {
            "tasks_total": v["tasks_total"].copy(),
            "tasks_placed": v["tasks_placed"].copy(),
            "tasks_rejected": v["tasks_rejected"].copy(),
            "tasks_deferred": tasks_deferred.astype(np.int64),
            "tasks_pending": tasks_pending.astype(np.int64),
            "sla_violation_rate": slatah,
            "slatah": slatah.copy(),
            "pdm": pdm,
            "slav": slatah * pdm,
            "unserved_cpu_share": v["unserved_cpu_s"] / np.maximum(v["demand_cpu_s"], 1e-12),
            "slo_violations": v["slo_violations"].copy(),
            "energy_kwh": v["energy_kwh"].copy(),
            "carbon_kg": v["carbon_kg"].copy(),
            "mean_utilization": v["utilization_host_s"] / active,
            "active_hosts_mean": v["active_host_s"] / np.maximum(v["elapsed_s"], 1e-12),
            "migrations": v["migrations"].copy(),
            "deferrals": v["deferrals"].copy(),
            "elapsed_s": v["elapsed_s"].copy(),
        }

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of all arrays."""
        return {k: v.copy() for k, v in self.values.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore from `get_state`."""
        self.values = {k: np.array(state[k]) for k in (*COUNTERS, *INTEGRALS)}
