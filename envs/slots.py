"""SlotTable: per-env rows of equal-typed columns in [B, M] arrays, grown by doubling.

Holds the running tasks and the defer queue of B datacenters; a row is live where `active`.
Free slots are kept on a per-env stack, so an insert costs O(1) however large the table (a
Google cell runs ~130k tasks at once).
"""

import numpy as np


class SlotTable:
    """Columns of shape [B, M] plus an `active` mask; rows are inserted into free slots."""

    def __init__(self, num_envs: int, dtypes: dict[str, np.dtype], capacity: int = 64):
        self.dtypes = dict(dtypes)
        self.active = np.zeros((num_envs, capacity), bool)
        self.count = np.zeros(num_envs, np.int64)
        self.columns = {name: np.zeros((num_envs, capacity), d) for name, d in self.dtypes.items()}
        # free[b, :capacity - count[b]] are env b's free slots; the next insert takes the last.
        self.free = self._initial_free(num_envs, capacity)

    @staticmethod
    def _initial_free(num_envs: int, capacity: int) -> np.ndarray:
        return np.tile(np.arange(capacity - 1, -1, -1, dtype=np.int64), (num_envs, 1))

    @property
    def capacity(self) -> int:
        return self.active.shape[1]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def clear(self) -> None:
        """Drop every row (capacity is kept)."""
        self.active[:] = False
        self.count[:] = 0
        self.free = self._initial_free(*self.active.shape)

    def _grow(self, needed: int) -> None:
        old = self.capacity
        new = max(needed, 2 * old)
        pad = new - old
        self.active = np.pad(self.active, ((0, 0), (0, pad)))
        self.columns = {k: np.pad(v, ((0, 0), (0, pad))) for k, v in self.columns.items()}
        free = np.zeros((len(self.count), new), np.int64)
        added = np.arange(new - 1, old - 1, -1, dtype=np.int64)
        for env, count in enumerate(self.count):
            # New slots go under the old free ones, so old free slots are reused first.
            num_free = old - int(count)
            free[env, :pad] = added
            free[env, pad : pad + num_free] = self.free[env, :num_free]
        self.free = free

    def insert(self, envs: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
        """Add one row to each of the (distinct) `envs`; returns the slots used."""
        if envs.size and self.count[envs].max() >= self.capacity:
            self._grow(int(self.count[envs].max()) + 1)
        slots = self.free[envs, self.capacity - self.count[envs] - 1]
        self.active[envs, slots] = True
        self.count[envs] += 1
        for name, column in self.columns.items():
            column[envs, slots] = values[name]
        return slots

    def insert_one(self, env: int, values: dict[str, float]) -> int:
        """`insert` of one row, with scalars; returns its slot."""
        count = int(self.count[env])
        if count >= self.capacity:
            self._grow(count + 1)
        slot = int(self.free[env, self.capacity - count - 1])
        self.active[env, slot] = True
        self.count[env] = count + 1
        for name, column in self.columns.items():
            column[env, slot] = values[name]
        return slot

    def remove_one(self, env: int, slot: int) -> None:
        """Free one row."""
        self.active[env, slot] = False
        count = int(self.count[env])
        self.free[env, self.capacity - count] = slot
        self.count[env] = count - 1

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
        # An empty table's stacks pop 0, 1, 2, ...: taking the first n leaves the rest in place.
        self.count += counts
        for name, column in self.columns.items():
            column[envs, slots] = values[name]

    def remove(self, envs: np.ndarray, slots: np.ndarray) -> None:
        """Free the given rows (`envs` may repeat)."""
        if envs.size == 0:
            return
        self.active[envs, slots] = False
        order = np.argsort(envs, kind="stable")
        envs, slots = envs[order], slots[order]
        starts = np.flatnonzero(np.r_[True, envs[1:] != envs[:-1]])
        rank = np.arange(envs.size) - np.repeat(starts, np.diff(np.r_[starts, envs.size]))
        self.free[envs, self.capacity - self.count[envs] + rank] = slots
        self.count -= np.bincount(envs, minlength=len(self.count))

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of all arrays."""
        return {
            "active": self.active.copy(),
            "free": self.free.copy(),
            **{k: v.copy() for k, v in self.columns.items()},
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore from `get_state`."""
        self.active = np.array(state["active"], bool)
        self.count = self.active.sum(axis=1).astype(np.int64)
        self.columns = {k: np.array(state[k], d) for k, d in self.dtypes.items()}
        self.free = np.array(state["free"], np.int64)
