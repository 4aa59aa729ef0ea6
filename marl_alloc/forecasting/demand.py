"""Task events -> demand series per leaf group and for the cluster.

Tasks go to leaf groups by a stable hash of (job_id, task_index) and machines by a stable hash of
their id (splitmix64, the same on every run and machine, unlike Python's salted `hash`), so a
group's demand is a fixed random share of the cell. Per bin and group the features are: the
time-averaged CPU and memory requested by running tasks, arrivals and departures, all divided by
the group's CPU (memory) capacity so that leaf groups and the cluster share one scale, and the
time of day. The cluster row is the total over groups divided by the total capacity.
"""

from dataclasses import dataclass

import numpy as np

from marl_alloc.forecasting.series import DemandSeries, time_of_day

FEATURES = ("cpu", "mem", "arrivals", "departures", "tod_sin", "tod_cos")
TARGETS = (0, 1)


def stable_hash(keys: np.ndarray) -> np.ndarray:
    """splitmix64 of unsigned 64-bit keys: a fixed, well-mixed hash."""
    z = np.asarray(keys).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def task_groups(job_id: np.ndarray, task_index: np.ndarray, num_groups: int) -> np.ndarray:
    """Leaf group of each task: splitmix64(job_id * 2**20 + task_index) mod num_groups."""
    keys = np.asarray(job_id).astype(np.uint64) * np.uint64(1 << 20)
    keys = keys + np.asarray(task_index).astype(np.uint64)
    return (stable_hash(keys) % np.uint64(num_groups)).astype(np.int64)


def machine_groups(machine_id: np.ndarray, num_groups: int) -> np.ndarray:
    """Leaf group of each machine: splitmix64(machine_id) mod num_groups."""
    return (stable_hash(machine_id) % np.uint64(num_groups)).astype(np.int64)


@dataclass(frozen=True)
class Tasks:
    """Task columns as numpy arrays: submit time, run start and end (inf: never started / still
    running), requests and leaf group."""

    submit_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    cpu: np.ndarray
    mem: np.ndarray
    group: np.ndarray


def _running_integral(edges: np.ndarray, start: np.ndarray, end: np.ndarray, weight: np.ndarray):
    # I(t) = sum_i w_i * clip(t - start_i, 0, end_i - start_i), from prefix sums over sorted
    # starts and ends, so each bin's mean running demand is (I(b) - I(a)) / (b - a).
    def ramp(times: np.ndarray) -> np.ndarray:
        order = np.argsort(times)
        t, w = times[order], weight[order]
        sum_w = np.concatenate([[0.0], np.cumsum(w)])
        sum_wt = np.concatenate([[0.0], np.cumsum(w * t)])
        k = np.searchsorted(t, edges, side="left")
        return edges * sum_w[k] - sum_wt[k]

    return ramp(start) - ramp(end)


def _counts(edges: np.ndarray, times: np.ndarray) -> np.ndarray:
    inside = times[(times >= edges[0]) & (times < edges[-1])]
    return np.bincount(np.searchsorted(edges, inside, side="right") - 1, minlength=len(edges) - 1)


def _group_features(tasks: Tasks, edges: np.ndarray, mask: np.ndarray) -> np.ndarray:
    # Runs are clipped to the binned span; a task that ran before it counts from its start.
    start = np.maximum(tasks.start_s[mask], edges[0])
    end = np.minimum(tasks.end_s[mask], edges[-1])
    runs = start < end
    start, end, cpu, mem = start[runs], end[runs], tasks.cpu[mask][runs], tasks.mem[mask][runs]
    width = np.diff(edges)
    arrivals = _counts(edges, tasks.submit_s[mask])
    departures = _counts(edges, tasks.end_s[mask])
    return np.stack(
        [
            np.diff(_running_integral(edges, start, end, cpu)) / width,
            np.diff(_running_integral(edges, start, end, mem)) / width,
            arrivals,
            departures,
        ],
        axis=-1,
    )


def demand_series(
    tasks: Tasks,
    resolution_s: float,
    cpu_capacity: np.ndarray,
    mem_capacity: np.ndarray,
    name: str,
    t0: float | None = None,
) -> DemandSeries:
    """Bin the tasks into features [T, G + 1, 6] for each leaf group and the cluster (last), from
    `t0` (default: the first submit) to the last submit."""
    num_groups = len(cpu_capacity)
    t0 = float(tasks.submit_s.min()) if t0 is None else t0
    num_bins = int((float(tasks.submit_s.max()) - t0) // resolution_s) + 1
    edges = t0 + resolution_s * np.arange(num_bins + 1, dtype=np.float64)
    raw = np.stack(
        [_group_features(tasks, edges, tasks.group == g) for g in range(num_groups)], axis=1
    )
    raw = np.concatenate([raw, raw.sum(axis=1, keepdims=True)], axis=1)
    capacity = np.stack([cpu_capacity, mem_capacity, cpu_capacity, cpu_capacity], axis=-1)
    capacity = np.concatenate([capacity, capacity.sum(axis=0, keepdims=True)], axis=0)
    demand = (raw / capacity).astype(np.float32)
    tod = np.broadcast_to(time_of_day(edges[:-1])[:, None, :], (num_bins, num_groups + 1, 2))
    return DemandSeries(
        values=np.concatenate([demand, tod], axis=-1),
        feature_names=FEATURES,
        target_features=TARGETS,
        group_names=tuple(f"leaf_{g:02d}" for g in range(num_groups)) + ("cluster",),
        resolution_s=float(resolution_s),
        name=name,
    )
