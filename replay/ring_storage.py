"""RingStorage: plain numpy columns, one row per ring slot; layout fixed by the first write."""

from collections.abc import Mapping

import numpy as np

from replay.errors import ReplayError

ColumnsSpec = dict[str, tuple[tuple[int, ...], str]]
"""Column name -> (row shape, dtype name)."""


def spec_of(batch: Mapping[str, np.ndarray]) -> ColumnsSpec:
    """The per-row shape and dtype of each column of a batch."""
    return {name: (tuple(a.shape[1:]), np.dtype(a.dtype).str) for name, a in batch.items()}


def conform(batch: Mapping[str, np.ndarray], spec: ColumnsSpec) -> dict[str, np.ndarray]:
    """The batch's columns in `spec`'s dtypes; other columns or row shapes are a ReplayError."""
    if set(batch) != set(spec):
        missing, extra = sorted(set(spec) - set(batch)), sorted(set(batch) - set(spec))
        raise ReplayError(
            f"batch columns differ from the first batch's (missing {missing}, unexpected {extra});"
            " send the same columns every time"
        )
    out = {}
    for name, (shape, dtype) in spec.items():
        column = np.asarray(batch[name])
        if column.shape[1:] != shape:
            raise ReplayError(
                f"column '{name}' has rows of shape {column.shape[1:]}, expected {shape} as first"
                " added; keep row shapes fixed per module"
            )
        if not np.can_cast(column.dtype, dtype, "same_kind"):
            raise ReplayError(
                f"column '{name}' has dtype {column.dtype}, expected {np.dtype(dtype)}; cast it"
            )
        out[name] = np.ascontiguousarray(column, dtype)
    return out


class RingStorage:
    """Columns of `capacity` rows; writes are contiguous runs of slots that may wrap."""

    def __init__(self, capacity: int, spec: ColumnsSpec):
        self.capacity = int(capacity)
        self.spec = dict(spec)
        self.columns = {
            name: np.zeros((self.capacity, *shape), dtype) for name, (shape, dtype) in spec.items()
        }

    @property
    def row_bytes(self) -> int:
        """Bytes of one row over all columns."""
        return sum(c[0].nbytes for c in self.columns.values())

    def write(self, start: int, batch: Mapping[str, np.ndarray]) -> None:
        """Write the batch's rows to slots start, start + 1, ... (mod capacity)."""
        for name, column in self.columns.items():
            rows = batch[name]
            head = min(len(rows), self.capacity - start)
            column[start : start + head] = rows[:head]
            column[: len(rows) - head] = rows[head:]

    def read(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of the rows at `slots`."""
        return {name: column[slots] for name, column in self.columns.items()}

    def get_state(self, size: int) -> dict:
        """The first `size` rows (the ring fills from slot 0, so they are all the data)."""
        return {name: column[:size].copy() for name, column in self.columns.items()}

    def set_state(self, state: dict) -> None:
        """Load rows saved by get_state."""
        for name, column in self.columns.items():
            rows = state[name]
            column[: len(rows)] = rows
