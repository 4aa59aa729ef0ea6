"""OracleForecast: the true future CPU demand per leaf group, the forecasts' ceiling (an ablation;
`env.knowledge.demand_forecast=oracle`).

It reads what no scheduler knows: each running task's true end, and the arrivals to come (a copy
of every env's task source, taken at reset, read ahead of the env's own; the pending task and the
deferred ones count from when they come back). Per bin k of `oracle_bin_s` from now, a leaf
group's value is the CPU requested on it averaged over the bin, over its CPU capacity: the `cpu`
feature the forecaster predicts (envs/demand_history.py). Where a task yet to arrive will be
placed depends on decisions not yet taken, so its demand is shared evenly over the leaf groups.
"""

import copy

import numpy as np

from envs.workloads import TaskSource

_TINY = 1e-9  # a group without machines reads as zeros
_CHUNK = 256  # tasks read ahead at a time


class OracleForecast:
    """Refreshes `env.forecast` at each cycle's first observation, for the envs that have
    entered a new oracle bin since their last refresh."""

    def __init__(self, env):
        self.bin_s = float(env.config.knowledge.oracle_bin_s)
        self.steps = env.config.forecast_horizon
        queue = env.arrivals
        # The env's queue holds columns[cursor:length] before its source's next task.
        self.sources: list[TaskSource] = [copy.deepcopy(s) for s in queue.sources]
        self.ahead = [
            {
                k: queue.columns[k][b, queue.cursor[b] : queue.length[b]].astype(np.float64)
                for k in ("arrival_s", "cpu", "duration_s")
            }
            for b in range(env.num_envs)
        ]
        self.exhausted = np.zeros(env.num_envs, bool)
        self.next_refresh_s = np.full(env.num_envs, -np.inf)

    def refresh(self, env) -> None:
        """Set the forecast of the envs whose clock passed their next refresh time."""
        envs = np.flatnonzero(env.now >= self.next_refresh_s)
        if envs.size == 0 or self.steps == 0:
            return
        env.forecast[envs] = self.leaf_demand(env, envs)
        self.next_refresh_s[envs] = env.now[envs] + self.bin_s

    def leaf_demand(self, env, envs: np.ndarray) -> np.ndarray:
        """float32[n, leaves, steps]: the true mean CPU requested per leaf group and bin from
        now, over the group's CPU capacity."""
        top = env.topology
        lo = env.now[envs, None] + self.bin_s * np.arange(self.steps)  # [n, steps]
        run = env.running
        active = run.active[envs]
        # A placed task's request is held from now (on a booting host too) to its true end.
        end = run["end_s"][envs][..., None]
        cpu = np.where(active, run["cpu"][envs], 0.0)
        held = _overlap(lo[:, None, :], end, lo[:, None, :], self.bin_s)
        held = np.where(active[..., None], held, 0.0)
        leaf = run["host"][envs].astype(np.int64) // top.hosts_per_leaf
        per_leaf = np.zeros((len(envs), top.num_leaves, self.steps))
        rows = np.broadcast_to(np.arange(len(envs))[:, None], leaf.shape)
        np.add.at(per_leaf, (rows, leaf), cpu[..., None] * held)
        # Tasks to come: shared evenly over the leaf groups.
        coming = np.stack([self._coming(env, int(b), lo[i]) for i, b in enumerate(envs)])
        per_leaf += coming[:, None, :] / top.num_leaves
        capacity = top.by_leaf(env.hosts.cpu_capacity[envs]).sum(-1)
        return (per_leaf / np.maximum(capacity, _TINY)[..., None]).astype(np.float32)

    def _coming(self, env, b: int, lo: np.ndarray) -> np.ndarray:
        """[steps]: the CPU of env b's tasks yet to start, averaged over each bin."""
        horizon_end = lo[-1] + self.bin_s
        ahead = self._read_ahead(b, env.now[b], horizon_end)
        arrival, cpu, duration = ahead["arrival_s"], ahead["cpu"], ahead["duration_s"]
        if env.has_pending[b]:
            p = env.pending
            arrival = np.append(arrival, env.now[b])
            cpu = np.append(cpu, p["cpu"][b])
            duration = np.append(duration, p["duration_s"][b])
        queued = env.deferred.active[b]
        if queued.any():
            arrival = np.append(arrival, env.deferred["resubmit_s"][b, queued])
            cpu = np.append(cpu, env.deferred["cpu"][b, queued])
            duration = np.append(duration, env.deferred["duration_s"][b, queued])
        held = _overlap(arrival[:, None], (arrival + duration)[:, None], lo[None, :], self.bin_s)
        return (cpu[:, None] * held).sum(0)

    def _read_ahead(self, b: int, now: float, until: float) -> dict[str, np.ndarray]:
        """Env b's arrivals in [now, until), reading its source copy as far as needed."""
        ahead = self.ahead[b]
        while not self.exhausted[b] and (
            ahead["arrival_s"].size == 0 or ahead["arrival_s"][-1] < until
        ):
            tasks = self.sources[b].take(_CHUNK)
            if len(tasks["arrival_s"]) == 0:
                self.exhausted[b] = True
                break
            ahead = {k: np.append(v, tasks[k]) for k, v in ahead.items()}
        # Arrivals before now are the env's own already (pending, placed or rejected).
        keep = ahead["arrival_s"] > now
        self.ahead[b] = ahead = {k: v[keep] for k, v in ahead.items()}
        within = ahead["arrival_s"] < until
        return {k: v[within] for k, v in ahead.items()}


def _overlap(start, end, lo, width: float) -> np.ndarray:
    """Share of each bin [lo, lo + width) that [start, end) covers."""
    return np.maximum(np.minimum(end, lo + width) - np.maximum(start, lo), 0.0) / width
