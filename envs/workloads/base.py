"""Task columns and the TaskSource interface every workload (synthetic or trace) provides.

A workload hands each simulated datacenter its own TaskSource: a seeded, resumable stream of
arriving tasks as numpy columns (TASK_DTYPES), taken in chunks with `take(n)`.
"""

from typing import Any, Protocol

import numpy as np

TASK_DTYPES: dict[str, np.dtype] = {
    "arrival_s": np.dtype(np.float64),
    "cpu": np.dtype(np.float32),  # requested CPU, in units of the largest machine's capacity
    "mem": np.dtype(np.float32),
    "duration_s": np.dtype(np.float32),  # run time once started
    "usage_factor": np.dtype(np.float32),  # actual CPU usage = cpu * usage_factor (may exceed 1)
    "priority": np.dtype(np.int16),
    "deferrable": np.dtype(bool),
    # Known at submit time, what run-time estimates are keyed by (envs/duration_knowledge.py):
    # who submitted the task (0: unknown) and its scheduling class (latency sensitivity).
    "owner": np.dtype(np.int64),
    "task_class": np.dtype(np.int16),
}

Tasks = dict[str, np.ndarray]
# Episodes not tied to a trace window start at a random time within a week (time of day and
# carbon intensity vary between episodes).
START_WINDOW_S = 7 * 86400.0


def empty_tasks(n: int = 0) -> Tasks:
    """Zero-filled task columns of length n."""
    return {name: np.zeros(n, dtype) for name, dtype in TASK_DTYPES.items()}


def lognormal(rng: np.random.Generator, mean: float, sigma: float, size: int) -> np.ndarray:
    """Lognormal samples with the given mean and log-space sigma."""
    return rng.lognormal(np.log(mean) - 0.5 * sigma**2, sigma, size)


def lognormal_from_std(rng: np.random.Generator, mean: float, std: float, size: int) -> np.ndarray:
    """Lognormal samples with the given mean and standard deviation."""
    sigma = np.sqrt(np.log1p((std / mean) ** 2))
    return lognormal(rng, mean, sigma, size)


class TaskSource(Protocol):
    """One datacenter's stream of tasks in arrival order."""

    def take(self, n: int) -> Tasks:
        """The next up to n tasks (fewer, possibly none, once a finite stream ends)."""
        ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


class Workload(Protocol):
    """Makes TaskSources and the tasks already running when an episode starts."""

    max_priority: int
    mean_cpu: float

    def start_s(self, rng: np.random.Generator) -> float:
        """Simulated time at which an episode starts."""
        ...

    def open(
        self, rng: np.random.Generator, start_s: float, num_tasks: int | None, total_cpu: float
    ) -> TaskSource:
        """A stream of tasks arriving after start_s for a datacenter with total_cpu capacity;
        endless when num_tasks is None."""
        ...

    def host_capacities(
        self, rng: np.random.Generator, n: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(cpu, mem) capacities of n hosts taken from the workload, or None."""
        ...

    def sample_running(self, rng: np.random.Generator, n: int) -> Tasks:
        """n tasks as if caught mid-run: duration_s is their remaining run time."""
        ...

    def running_at_start(self, rng: np.random.Generator) -> tuple[Tasks, np.ndarray] | None:
        """Recorded tasks running when the episode starts and their host slots (-1: unknown),
        or None to warm-start with sample_running draws."""
        ...
