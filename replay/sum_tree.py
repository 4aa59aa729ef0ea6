"""Vectorized segment trees over priorities: SumTree samples by prefix sums, MinTree gives the min.

The tree is B-ary (B = 32) and stored as one flat array per level, leaves first, so that updating
or descending N items costs a handful of numpy calls per level (4 levels for 1M leaves) and no
Python loop per item. Parents are recomputed from their children, never adjusted by deltas, so
sums do not drift however many updates happen.
"""

import numpy as np

BRANCHING = 32
# children @ _PREFIX_SUM gives each block's running sums.
_PREFIX_SUM = np.triu(np.ones((BRANCHING, BRANCHING)))


class _SegmentTree:
    """Leaves hold values; each level above holds `reduce` over blocks of BRANCHING nodes."""

    def __init__(self, capacity: int, reduce: np.ufunc, identity: float):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._reduce = reduce
        self._identity = identity
        self.levels: list[np.ndarray] = []
        size = self.capacity
        while True:
            size = -(-size // BRANCHING) * BRANCHING  # whole blocks, so reshape(-1, B) works
            self.levels.append(np.full(size, identity, np.float64))
            if size == BRANCHING:
                break
            size //= BRANCHING

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set leaves; with duplicate indices the last write wins."""
        indices = np.asarray(indices, np.int64).ravel()
        values = np.broadcast_to(np.asarray(values, np.float64).ravel(), indices.shape)
        if indices.size == 0:
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"tree indices must be in [0, {self.capacity})")
        # np.unique on the reversed array keeps each index's last occurrence, and sorts.
        reversed_unique, first_in_reversed = np.unique(indices[::-1], return_index=True)
        self.levels[0][reversed_unique] = values[::-1][first_in_reversed]
        nodes = reversed_unique
        for child, parent in zip(self.levels[:-1], self.levels[1:], strict=True):
            nodes = nodes // BRANCHING
            nodes = nodes[np.r_[True, nodes[1:] != nodes[:-1]]]  # sorted, so dedupe by neighbour
            parent[nodes] = self._reduce.reduce(child.reshape(-1, BRANCHING)[nodes], axis=1)

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Leaf values at `indices`."""
        return self.levels[0][np.asarray(indices, np.int64)]

    def root(self) -> float:
        """`reduce` over all leaves."""
        return float(self._reduce.reduce(self.levels[-1]))

    def get_state(self) -> dict:
        """The leaves (inner levels are rebuilt from them)."""
        return {"leaves": self.levels[0][: self.capacity].copy()}

    def set_state(self, state: dict) -> None:
        """Load leaves and rebuild the levels above."""
        leaves = np.asarray(state["leaves"], np.float64)
        if leaves.shape != (self.capacity,):
            raise ValueError(f"tree state has {leaves.shape[0]} leaves, expected {self.capacity}")
        self.levels[0][: self.capacity] = leaves
        for child, parent in zip(self.levels[:-1], self.levels[1:], strict=True):
            blocks = self._reduce.reduce(child.reshape(-1, BRANCHING), axis=1)
            parent[: blocks.size] = blocks


class SumTree(_SegmentTree):
    """Priorities with O(log_B n) vectorized update and stratified proportional sampling."""

    def __init__(self, capacity: int):
        super().__init__(capacity, np.add, 0.0)

    def total(self) -> float:
        """Sum of all priorities."""
        return self.root()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` leaf indices drawn with probability priority / total, one per stratum of the mass.

        Stratum i is [i, i + 1) * total / n, so a batch covers the whole distribution evenly.
        """
        total = self.total()
        if not total > 0.0:
            raise ValueError("cannot sample from a sum tree whose total priority is 0")
        targets = (np.arange(n) + rng.random(n)) * (total / n)
        nodes = np.zeros(n, np.int64)
        rows = np.arange(n)
        for level in reversed(self.levels):
            children = level.reshape(-1, BRANCHING)[nodes]
            prefix = children @ _PREFIX_SUM  # one BLAS call beats np.cumsum on short rows
            # A target strictly below the block's sum lands on a child with mass; rounding can
            # put it at or past the sum, so pull it just under.
            np.minimum(targets, np.nextafter(prefix[:, -1], 0.0), out=targets)
            chosen = (prefix <= targets[:, None]).sum(axis=1)
            targets -= prefix[rows, chosen] - children[rows, chosen]
            nodes = nodes * BRANCHING + chosen
        return nodes


class MinTree(_SegmentTree):
    """Minimum over leaves (empty leaves are +inf); gives the largest importance weight."""

    def __init__(self, capacity: int):
        super().__init__(capacity, np.minimum, np.inf)

    def min(self) -> float:
        """Smallest leaf value."""
        return self.root()
