"""SlotTable: per-env rows of equal-typed columns in [B, M] arrays, grown by doubling.

Holds the running tasks and the defer queue of B datacenters; a row is live where `active`.
"""

import numpy as np


class SlotTable:
    """Columns of shape [B, M] plus an `active` mask; rows are inserted into free slots."""

    def __init__(self, num_envs: int, dtypes: dict[str, np.dtype], capacity: int = 64):
        self.dtypes = dict(dtypes)
        self.active = np.zeros((num_envs, capacity), bool)
        self.count = np.zeros(num_envs, np.int64)
        self.columns = {name: np.zeros((num_envs, capacity), d) for name, d in self.dtypes.items()}

    @property
    def capacity(self) -> int:
        return self.active.shape[1]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def clear(self) -> None:
        """Drop every row (capacity is kept)."""
        self.active[:] = False
        self.count[:] = 0

    def _grow(self, needed: int) -> None:
        new = max(needed, 2 * self.capacity)
        pad = new - self.capacity
        self.active = np.pad(self.active, ((0, 0), (0, pad)))
        self.columns = {k: np.pad(v, ((0, 0), (0, pad))) for k, v in self.columns.items()}

    def insert(self, envs: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
        """Add one row to each of the (distinct) `envs`; returns the slots used."""
        if envs.size and self.count[envs].max() >= self.capacity:
            self._grow(int(self.count[envs].max()) + 1)
        slots = np.argmin(self.active[envs], axis=1)
        self.active[envs, slots] = True
        self.count[envs] += 1
        for name, column in self.columns.items():
            column[envs, slots] = values[name]
        return slots

    def fill(self, envs: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Bulk-insert rows into an empty table; `envs` (sorted) may repeat."""
        if envs.size == 0:
            return
        counts = np.bincount(envs, minlength=len(self.count))
        if counts.max() > self.capacity:
            self._grow(int(counts.max()))
        starts = np.cumsum(counts) - counts
        slots = np.arange(envs.size) - starts[envs]
        self.active[envs, slots] = True
        self.count += counts
        for name, column in self.columns.items():
            column[envs, slots] = values[name]

    def remove(self, envs: np.ndarray, slots: np.ndarray) -> None:
        """Free the given rows."""
        self.active[envs, slots] = False
        self.count -= np.bincount(envs, minlength=len(self.count))

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of all arrays."""
        return {"active": self.active.copy(), **{k: v.copy() for k, v in self.columns.items()}}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore from `get_state`."""
        self.active = np.array(state["active"], bool)
        self.count = self.active.sum(axis=1).astype(np.int64)
        self.columns = {k: np.array(state[k], d) for k, d in self.dtypes.items()}
