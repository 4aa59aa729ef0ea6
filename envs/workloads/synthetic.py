"""Synthetic workload: diurnal Poisson arrivals with bursts, lognormal requests and durations.

Arrivals: a non-homogeneous Poisson process (thinning) with rate
base * (1 + diurnal_amplitude * cos(2 pi (hour - 14) / 24)), peaking at 14:00; each arrival opens a
burst with probability burst_probability, adding Poisson(burst_size_mean) tasks within
burst_spread_s. `arrival_rate_per_s` is the mean total rate, bursts included.
"""

from typing import Any

import numpy as np

from envs.workloads.base import (
    START_WINDOW_S,
    Tasks,
    empty_tasks,
    lognormal,
    lognormal_from_std,
)
from marl_alloc.floor.settings.env import SyntheticWorkloadConfig

DAY_S = 86400.0
PEAK_HOUR = 14.0
MIN_REQUEST = 1e-3
MAX_DURATION_S = 7 * DAY_S


class SyntheticWorkload:
    """Draws task columns from the distributions in a SyntheticWorkloadConfig."""

    def __init__(self, config: SyntheticWorkloadConfig):
        self.config = config
        self.max_priority = max(len(config.priority_probs) - 1, 1)
        self.mean_cpu = config.cpu_request_mean
        self.base_rate = config.arrival_rate_per_s / (
            1.0 + config.burst_probability * config.burst_size_mean
        )

    def rate(self, t: np.ndarray) -> np.ndarray:
        """Primary (non-burst) arrival rate at times t."""
        hour = (t % DAY_S) / 3600.0
        amplitude = self.config.diurnal_amplitude
        return self.base_rate * (1.0 + amplitude * np.cos(2 * np.pi * (hour - PEAK_HOUR) / 24.0))

    def open(
        self, rng: np.random.Generator, start_s: float, num_tasks: int | None, total_cpu: float
    ) -> "SyntheticSource":
        """A seeded stream of arrivals after start_s (the configured rate, whatever total_cpu)."""
        return SyntheticSource(self, rng, start_s, num_tasks)

    def start_s(self, rng: np.random.Generator) -> float:
        """A random time within a week."""
        return float(rng.uniform(0.0, START_WINDOW_S))

    def host_capacities(self, rng: np.random.Generator, n: int) -> None:
        """Synthetic workloads leave host capacities to hosts.*_capacity_choices."""
        return None

    def running_at_start(self, rng: np.random.Generator) -> None:
        """Warm start draws running tasks (sample_running)."""
        return None

    def sample_requests(self, rng: np.random.Generator, n: int) -> Tasks:
        """Everything but arrival times: requests, durations, usage, priority, deferrable."""
        c = self.config
        tasks = empty_tasks(n)
        z_cpu, z_other = rng.standard_normal(n), rng.standard_normal(n)
        # CPU and memory requests of one task are correlated (rho = 0.5), as in the Google trace.
        z_mem = 0.5 * z_cpu + np.sqrt(0.75) * z_other
        for name, mean, sigma, z in (
            ("cpu", c.cpu_request_mean, c.cpu_request_sigma, z_cpu),
            ("mem", c.mem_request_mean, c.mem_request_sigma, z_mem),
        ):
            value = np.exp(np.log(mean) - 0.5 * sigma**2 + sigma * z)
            tasks[name][:] = np.clip(value, MIN_REQUEST, c.max_request)
        duration = lognormal(rng, c.duration_mean_s, c.duration_sigma, n)
        tasks["duration_s"][:] = np.clip(duration, 1.0, MAX_DURATION_S)
        usage = lognormal_from_std(rng, c.usage_factor_mean, c.usage_factor_std, n)
        tasks["usage_factor"][:] = np.clip(usage, 0.01, 3.0)
        tasks["priority"][:] = rng.choice(len(c.priority_probs), size=n, p=c.priority_probs)
        tasks["deferrable"][:] = rng.random(n) < c.deferrable_fraction
        return tasks

    def sample_running(self, rng: np.random.Generator, n: int) -> Tasks:
        """Tasks caught mid-run: remaining time is a uniform share of a drawn duration. A task
        is running at a given instant in proportion to its duration: lognormal(mu, sigma)
        weighted by its value is lognormal(mu + sigma^2, sigma)."""
        tasks = self.sample_requests(rng, n)
        sigma = self.config.duration_sigma
        biased = tasks["duration_s"] * np.float32(np.exp(sigma**2))
        tasks["duration_s"] = np.minimum(biased, MAX_DURATION_S).astype(np.float32)
        tasks["duration_s"] *= rng.random(n).astype(np.float32)
        np.maximum(tasks["duration_s"], 1.0, out=tasks["duration_s"])
        return tasks

    def arrival_times(self, rng: np.random.Generator, after_s: float, n: int) -> np.ndarray:
        """At least n sorted arrival times after after_s (primary arrivals plus their bursts)."""
        c = self.config
        rate_max = self.base_rate * (1.0 + c.diurnal_amplitude)
        times: list[np.ndarray] = []
        count, t = 0, after_s
        while count < n:
            gaps = rng.exponential(1.0 / rate_max, n + 16)
            candidates = t + np.cumsum(gaps)
            t = float(candidates[-1])
            primary = candidates[rng.random(len(candidates)) * rate_max < self.rate(candidates)]
            bursts = np.where(
                rng.random(len(primary)) < c.burst_probability,
                rng.poisson(c.burst_size_mean, len(primary)),
                0,
            )
            extra = np.repeat(primary, bursts) + rng.uniform(0.0, c.burst_spread_s, bursts.sum())
            times += [primary, extra]
            count += len(primary) + len(extra)
        return np.sort(np.concatenate(times))[:n]


class SyntheticSource:
    """One datacenter's synthetic arrivals: endless, or exactly num_tasks tasks."""

    def __init__(
        self,
        workload: SyntheticWorkload,
        rng: np.random.Generator,
        start_s: float,
        num_tasks: int | None,
    ):
        self.workload = workload
        self.rng = rng
        self.last_arrival_s = float(start_s)
        self.remaining = num_tasks

    def take(self, n: int) -> Tasks:
        """The next up to n arrivals."""
        if self.remaining is not None:
            n = min(n, self.remaining)
            self.remaining -= n
        if n == 0:
            return empty_tasks(0)
        tasks = self.workload.sample_requests(self.rng, n)
        tasks["arrival_s"][:] = self.workload.arrival_times(self.rng, self.last_arrival_s, n)
        self.last_arrival_s = float(tasks["arrival_s"][-1])
        return tasks

    def get_state(self) -> dict[str, Any]:
        """RNG state, last arrival and remaining count (None when endless)."""
        return {
            "rng": self.rng.bit_generator.state,
            "last_arrival_s": self.last_arrival_s,
            "remaining": self.remaining,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue exactly where `get_state` was taken."""
        self.rng.bit_generator.state = state["rng"]
        self.last_arrival_s = float(state["last_arrival_s"])
        self.remaining = state["remaining"]
