"""DemandHistory: per-env, per-leaf-group demand in closed time bins, as the forecaster reads it.

The features and scaling are those of marl_alloc/forecasting/demand.py's per-group series, so a
forecaster trained by `python -m marl_alloc.forecast train` reads the same inputs: per bin of
`resolution_s` seconds from the env's reset time, the time-averaged CPU and memory requested on
the group's hosts, the tasks placed in it (arrivals) and finished in it (departures), all divided
by the group's CPU (memory) capacity, and the sine and cosine of the bin start's time of day.
An event at a bin edge counts in the later bin, as there. Migrations move requests between
groups (the CPU and memory columns follow them) but count as neither arrival nor departure.
"""

import numpy as np

from envs.hosts import HostArrays
from envs.topology import Topology

FEATURES = ("cpu", "mem", "arrivals", "departures", "tod_sin", "tod_cos")
ARRIVALS, DEPARTURES = 2, 3
DAY_S = 86_400.0
_TINY = 1e-9  # a group without machines reads as zeros


class DemandHistory:
    """A ring of the last `keep_bins` closed bins [B, keep_bins, leaves, 6] and the open bin."""

    def __init__(
        self,
        topology: Topology,
        hosts: HostArrays,
        start_s: np.ndarray,
        resolution_s: float,
        keep_bins: int,
    ):
        if resolution_s <= 0 or keep_bins <= 0:
            raise ValueError("a demand history needs resolution_s > 0 and keep_bins > 0")
        self.topology = topology
        self.resolution_s = float(resolution_s)
        self.keep_bins = int(keep_bins)
        num_envs = len(start_s)
        self.cpu_capacity = np.maximum(topology.by_leaf(hosts.cpu_capacity).sum(-1), _TINY)
        self.mem_capacity = np.maximum(topology.by_leaf(hosts.mem_capacity).sum(-1), _TINY)
        self.bins = np.zeros((num_envs, self.keep_bins, topology.num_leaves, 6), np.float32)
        self.closed = np.zeros(num_envs, np.int64)
        self.bin_start_s = np.asarray(start_s, np.float64).copy()
        # Open bin per env and group: CPU-seconds, memory-seconds, arrivals, departures.
        self.open = np.zeros((num_envs, topology.num_leaves, 4))

    def integrate(self, hosts: HostArrays, t0: np.ndarray, t1: np.ndarray) -> None:
        """Add the requests held constant from t0[b] to t1[b], closing every bin that ends by t1."""
        top = self.topology
        held = np.stack(
            [top.by_leaf(hosts.cpu_requested).sum(-1), top.by_leaf(hosts.mem_requested).sum(-1)],
            axis=-1,
        )
        start = np.asarray(t0, np.float64)
        while True:
            end = self.bin_start_s + self.resolution_s
            dt = np.maximum(np.minimum(t1, end) - start, 0.0)
            self.open[..., :2] += held * dt[:, None, None]
            crossed = np.flatnonzero(t1 >= end)
            if crossed.size == 0:
                return
            self._close(crossed)
            start = np.where(t1 >= end, end, t1)  # the rest of the interval is counted

    def count(self, envs: np.ndarray, hosts: np.ndarray, feature: int) -> None:
        """One arrival or departure (ARRIVALS, DEPARTURES) per (env, global host) pair."""
        leaves = np.asarray(hosts, np.int64) // self.topology.hosts_per_leaf
        np.add.at(self.open[..., feature], (np.asarray(envs, np.int64), leaves), 1.0)

    def window(self, length: int, envs: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Bins [end - length, end) of each env [n, leaves, length, 6]; before bin 0, bin 0."""
        index = np.maximum(np.asarray(end, np.int64)[:, None] + np.arange(-length, 0), 0)
        if (index >= self.closed[envs, None]).any() or (
            index < self.closed[envs, None] - self.keep_bins
        ).any():
            raise ValueError(
                f"demand bins asked for are not held (closed {self.closed[envs].tolist()}, "
                f"keeping {self.keep_bins}); keep more bins"
            )
        rows = self.bins[np.asarray(envs)[:, None], index % self.keep_bins]
        return np.ascontiguousarray(rows.transpose(0, 2, 1, 3))

    def _close(self, envs: np.ndarray) -> None:
        o = self.open[envs]
        cpu_cap, mem_cap = self.cpu_capacity[envs], self.mem_capacity[envs]
        phase = 2 * np.pi * (self.bin_start_s[envs] % DAY_S) / DAY_S
        features = np.stack(
            [
                o[..., 0] / self.resolution_s / cpu_cap,
                o[..., 1] / self.resolution_s / mem_cap,
                o[..., 2] / cpu_cap,
                o[..., 3] / cpu_cap,
                np.broadcast_to(np.sin(phase)[:, None], cpu_cap.shape),
                np.broadcast_to(np.cos(phase)[:, None], cpu_cap.shape),
            ],
            axis=-1,
        )
        self.bins[envs, self.closed[envs] % self.keep_bins] = features
        self.closed[envs] += 1
        self.open[envs] = 0.0
        self.bin_start_s[envs] += self.resolution_s
