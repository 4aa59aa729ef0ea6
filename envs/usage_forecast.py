"""HostUsageForecast: the CPU usage of each host's running tasks over the next usage periods,
as the overcommit decisions read it (env.knowledge.host_usage).

- `current` (the default): the usage measured now (HostArrays.cpu_usage).
- `forecast` and `oracle`: the larger of the usage measured now and the mean usage over the
  next h = usage_horizon usage periods. Usage stays as measured until the period ends, so a
  placement that overloads the host now does so for certain until then (migrations only run
  at period boundaries), while one that fits now may overload it once usage changes: the
  overload rule asks for neither. (A time-weighted mean of the two lets the first happen:
  PABFD@2 on the benchmark's synthetic windows then overloaded more than on the current usage
  alone, even with the oracle.) The mean of the next h periods, per task:
  - `forecast`: causal, from what a scheduler observes of the task: the usage it showed when it
    started and at every usage period since (running columns usage_n, usage_sum and the last
    value, `usage`), never its true usage factor, noise state or future draws. Its mean is a
    shrinkage estimate, its observed mean pulled toward request x the workload's mean usage
    factor as if that prior had been observed usage_prior_weight times; its last value
    persists by usage_persistence per period, so over the next h periods it averages
        mean + w (last - mean),  w = (1/h) sum_{j=1..h} usage_persistence^j;
  - `oracle` (an ablation only: the ceiling): the true expected usage of the next h periods,
    from the task's usage factor and noise state under the env's usage model.

A host's figure for the next periods is the sum over its tasks, kept incrementally: a
placement adds its task's, a finish takes it away, and the first read after a usage period
(new usage for every task, then migrations) recomputes that env's hosts from the running
table.
"""

import numpy as np

from envs.hosts import HostArrays
from envs.slots import SlotTable
from marl_alloc.floor.settings.env import KnowledgeConfig, UsageConfig


class HostUsageForecast:
    """Per host, the usage the overcommit features, PABFD and the overload charge read; `host`
    holds the mean of the next periods (forecast or oracle)."""

    def __init__(self, knowledge: KnowledgeConfig, usage: UsageConfig, mean_factor: float):
        self.mode = knowledge.host_usage
        self.prior_factor = float(mean_factor)
        self.prior_weight = knowledge.usage_prior_weight
        ahead = np.arange(1, knowledge.usage_horizon + 1)
        self.persistence = float(np.mean(knowledge.usage_persistence**ahead))
        # The oracle's E[exp(sigma z_{t+j} - sigma^2 / 2) | z_t] for z AR(1) with N(0, 1)
        # marginals: exp(sigma rho^j z_t - sigma^2 rho^2j / 2), averaged over j = 1..h.
        self._sigma_decay = usage.sigma * usage.correlation**ahead
        self.host = np.zeros((0, 0))
        self._tick = np.zeros(0)

    def rebuild(self, num_envs: int, num_hosts: int) -> None:
        """Forget every host's figure (a new episode, or a restored state): the first read
        recomputes them all from the running table."""
        self.host = np.zeros((num_envs, num_hosts))
        self._tick = np.full(num_envs, np.nan)

    def task_usage(self, running: SlotTable, env: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """float64[n]: the mean usage over the horizon of these running tasks, per the mode
        (`forecast` or `oracle`)."""
        cpu = running["cpu"][env, slots].astype(np.float64)
        if self.mode == "oracle":
            z = running["z"][env, slots].astype(np.float64)[..., None]
            decay = self._sigma_decay
            growth = np.exp(decay * z - 0.5 * decay**2).mean(axis=-1)
            return cpu * running["factor"][env, slots] * growth
        k = self.prior_weight
        seen = running["usage_n"][env, slots]
        mean = (k * self.prior_factor * cpu + running["usage_sum"][env, slots]) / (k + seen)
        return mean + self.persistence * (running["usage"][env, slots] - mean)

    def read(self, hosts: HostArrays, running: SlotTable, next_tick_s: np.ndarray) -> np.ndarray:
        """float[B, H]: each host's usage as the overcommit decisions read it now;
        `next_tick_s`: each env's next usage period boundary (where usage changes next)."""
        if self.mode == "current":
            return hosts.cpu_usage
        stale = np.flatnonzero(self._tick != next_tick_s)
        if stale.size:
            self._recompute(running, stale)
            self._tick[stale] = next_tick_s[stale]
        return np.maximum(hosts.cpu_usage, self.host)

    def _recompute(self, running: SlotTable, envs: np.ndarray) -> None:
        num_hosts = self.host.shape[1]
        row, slots = np.nonzero(running.active[envs])
        values = self.task_usage(running, envs[row], slots)
        cell = row * num_hosts + running["host"][envs[row], slots]
        totals = np.bincount(cell, values, minlength=len(envs) * num_hosts)
        self.host[envs] = totals.reshape(len(envs), num_hosts)

    def place(self, running: SlotTable, env: np.ndarray, slots: np.ndarray | int) -> None:
        """Count tasks just inserted at these running-table rows on their hosts."""
        if self.mode != "current":
            host = running["host"][env, slots]
            np.add.at(self.host, (env, host), self.task_usage(running, env, slots))

    def finish(self, running: SlotTable, env: np.ndarray, slots: np.ndarray) -> None:
        """Take tasks about to leave these running-table rows off their hosts."""
        if self.mode != "current" and len(slots):
            host = running["host"][env, slots]
            np.subtract.at(self.host, (env, host), self.task_usage(running, env, slots))
