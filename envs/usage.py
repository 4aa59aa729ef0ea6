"""Time-varying CPU usage of running tasks, around what they request.

A task's usage = request * usage_factor * exp(sigma z - sigma^2 / 2): usage_factor is the task's
mean usage per unit requested (drawn by the workload, or the trace's average), z an AR(1)
process with N(0, 1) marginals redrawn for every running task at each multiple of period_s of
simulated time (CloudSim's utilization models change at each scheduling interval). Host usage
is the sum over its tasks, so SLATAH and PDM see the fluctuation.
"""

import numpy as np

from envs.hosts import HostArrays
from envs.slots import SlotTable
from marl_alloc.floor.settings.env import UsageConfig


class UsageModel:
    """Draws the usage noise; one generator for all envs of a VectorDatacenterEnv."""

    def __init__(self, config: UsageConfig):
        self.config = config
        self.innovation = float(np.sqrt(1.0 - config.correlation**2))

    def usage(self, cpu: np.ndarray, factor: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Current CPU usage of tasks with these requests, mean factors and noise states."""
        sigma = self.config.sigma
        return cpu * factor * np.exp(sigma * z - 0.5 * sigma**2)

    def next_tick_s(self, now: np.ndarray) -> np.ndarray:
        """The first multiple of period_s after now."""
        period = self.config.period_s
        return (np.floor(now / period) + 1.0) * period

    def redraw(
        self, rng: np.random.Generator, running: SlotTable, hosts: HostArrays, envs: np.ndarray
    ) -> None:
        """Step every running task of `envs` (indices) to its next noise state, record the new
        usage in its observed history and recompute their hosts' usage and the env totals
        exactly."""
        num_hosts = hosts.cpu_usage.shape[1]
        c = self.config
        for env in envs.tolist():
            slots = np.flatnonzero(running.active[env])
            z = running["z"][env, slots] * c.correlation
            z += self.innovation * rng.standard_normal(slots.size)
            running["z"][env, slots] = z
            usage = self.usage(running["cpu"][env, slots], running["factor"][env, slots], z)
            running["usage"][env, slots] = usage
            running["usage_n"][env, slots] += 1
            running["usage_sum"][env, slots] += usage
            host = running["host"][env, slots]
            hosts.cpu_usage[env] = np.bincount(host, usage, minlength=num_hosts)
        hosts.refresh_rows(envs)
