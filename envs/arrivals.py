"""ArrivalQueue: the next arriving tasks of B datacenters, buffered in [B, chunk] columns.

Each env reads its own TaskSource in chunks; a refill is a Python call per env every `chunk`
tasks, so the per-step work stays vectorized.
"""

from typing import Any

import numpy as np

from envs.workloads import TASK_DTYPES, TaskSource

QUEUE_DTYPES = {**TASK_DTYPES, "cluster": np.dtype(np.int16)}


class ArrivalQueue:
    """Buffered arrivals per env, with a cursor to the next one."""

    def __init__(
        self,
        sources: list[TaskSource],
        rngs: list[np.random.Generator],
        num_clusters: int,
        chunk: int = 256,
    ):
        num_envs = len(sources)
        self.sources = sources
        # Assigns each task to a cluster (its cluster agent decides it).
        self.rngs = rngs
        self.num_clusters = num_clusters
        self.columns = {k: np.zeros((num_envs, chunk), d) for k, d in QUEUE_DTYPES.items()}
        self.cursor = np.zeros(num_envs, np.int64)
        self.length = np.zeros(num_envs, np.int64)
        self.exhausted = np.zeros(num_envs, bool)
        self._rows = np.arange(num_envs)

    def next_arrival_s(self, envs: np.ndarray) -> np.ndarray:
        """Arrival time of each env's next task (inf where none is left); refills as needed."""
        self._refill(envs & (self.cursor >= self.length) & ~self.exhausted)
        has_next = self.cursor < self.length
        index = np.minimum(self.cursor, self.columns["arrival_s"].shape[1] - 1)
        return np.where(has_next, self.columns["arrival_s"][self._rows, index], np.inf)

    def pop(self, envs: np.ndarray) -> dict[str, np.ndarray]:
        """Take the next task of each of `envs` (indices); they must have one."""
        slot = self.cursor[envs]
        self.cursor[envs] += 1
        return {k: v[envs, slot] for k, v in self.columns.items()}

    def next_one(self, env: int) -> float:
        """`next_arrival_s` of one env."""
        if self.cursor[env] >= self.length[env]:
            if self.exhausted[env]:
                return np.inf
            need = np.zeros(len(self.cursor), bool)
            need[env] = True
            self._refill(need)
            if self.cursor[env] >= self.length[env]:
                return np.inf
        return float(self.columns["arrival_s"][env, self.cursor[env]])

    def pop_one(self, env: int) -> dict[str, Any]:
        """`pop` of one env: its next task's fields as scalars."""
        slot = int(self.cursor[env])
        self.cursor[env] = slot + 1
        return {k: v[env, slot] for k, v in self.columns.items()}

    def _refill(self, need: np.ndarray) -> None:
        chunk = self.columns["arrival_s"].shape[1]
        for env in np.flatnonzero(need):
            tasks = self.sources[env].take(chunk)
            n = len(tasks["arrival_s"])
            if n == 0:
                self.exhausted[env] = True
                continue
            for name in TASK_DTYPES:
                self.columns[name][env, :n] = tasks[name]
            self.columns["cluster"][env, :n] = self.rngs[env].integers(self.num_clusters, size=n)
            self.cursor[env], self.length[env] = 0, n

    def get_state(self) -> dict[str, Any]:
        """Buffers, cursors and every source's and rng's state."""
        return {
            "columns": {k: v.copy() for k, v in self.columns.items()},
            "cursor": self.cursor.copy(),
            "length": self.length.copy(),
            "exhausted": self.exhausted.copy(),
            "sources": [s.get_state() for s in self.sources],
            "rngs": [r.bit_generator.state for r in self.rngs],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore from `get_state`."""
        self.columns = {k: np.array(state["columns"][k], d) for k, d in QUEUE_DTYPES.items()}
        self.cursor = np.array(state["cursor"], np.int64)
        self.length = np.array(state["length"], np.int64)
        self.exhausted = np.array(state["exhausted"], bool)
        for source, s in zip(self.sources, state["sources"], strict=True):
            source.set_state(s)
        for rng, s in zip(self.rngs, state["rngs"], strict=True):
            rng.bit_generator.state = s
