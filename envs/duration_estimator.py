"""DurationEstimator: an online, causal estimate of how long a task will run.

A scheduler does not know a task's run time when it places it; it knows what the task asks for
and how long the tasks that have already finished ran. The estimator keeps, per key at each of
a few levels (coarse to fine, e.g. scheduling class, owner, owner and request shape), the count,
sum and sum of squares of the log run times it has been shown. A query walks the levels from a
prior down, shrinking each level's mean toward its parent's with `pseudo_count` pseudo-tasks
(empirical Bayes): a key seen once moves the estimate a little, a key seen often decides it.
The estimate is the median run time exp(mu); its uncertainty the spread (sigma, in log units)
the same walk gives the run times of such tasks.

It is plain numpy with no simulator import: the simulator feeds it finished tasks as they end,
the Kubernetes extender the run times of pods it saw finish.

    estimator = DurationEstimator(levels=3)
    estimator.observe(keys, durations_s)          # keys: int64[n, levels]
    median_s, sigma = estimator.estimate(keys)    # what is known now, nothing else
"""

from typing import Any

import numpy as np

# Run times below a second say nothing more than a second does (and log(0) is undefined).
MIN_DURATION_S = 1.0
# An odd 64-bit multiplier (the golden ratio's bits): keys are polynomials in it, mod 2^64.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def combine_keys(*columns: np.ndarray, prefix: np.ndarray | None = None) -> np.ndarray:
    """One int64 key per row from integer or float columns (floats by their float32 bits),
    optionally extending the keys `prefix` (so finer levels reuse coarser ones); equal rows give
    equal keys, distinct ones distinct keys almost surely. A few numpy calls per column: it runs
    once per decision on one-task batches."""
    key = np.zeros(len(columns[0]), np.uint64) if prefix is None else prefix.view(np.uint64)
    for column in columns:
        column = np.asarray(column)
        if column.dtype.kind == "f":
            bits = column.astype(np.float32).view(np.uint32).astype(np.uint64)
        else:
            bits = column.astype(np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            key = key * _MIX + bits + np.uint64(1)
    return key.view(np.int64)


class _KeyedMoments:
    """Count, sum and sum of squares of values per int64 key. The moments are numpy rows; the
    key -> row index is a dict (numpy has no hash table, and sorted-array inserts cost O(keys)
    per new key, which a Google cell's ~60k finishes one by one cannot afford)."""

    def __init__(self):
        self.rows: dict[int, int] = {}
        self.moments = np.zeros((64, 3))  # count, sum, sum of squares; grown by doubling

    def _index(self, keys: np.ndarray, add: bool) -> np.ndarray:
        rows, get = self.rows, self.rows.get
        if not add:
            return np.array([get(k, -1) for k in keys.tolist()], np.int64)
        index = []
        for k in keys.tolist():
            row = get(k)
            if row is None:
                row = rows[k] = len(rows)
            index.append(row)
        if len(rows) > len(self.moments):
            grown = np.zeros((max(len(rows), 2 * len(self.moments)), 3))
            grown[: len(self.moments)] = self.moments
            self.moments = grown
        return np.array(index, np.int64)

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        index = self._index(keys, add=True)
        np.add.at(self.moments, index, np.stack([np.ones_like(values), values, values**2], 1))

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """[n, 3] moments of each key (zeros for keys never added)."""
        index = self._index(keys, add=False)
        return np.where(index[:, None] >= 0, self.moments[np.maximum(index, 0)], 0.0)

    def get_state(self) -> dict[str, np.ndarray]:
        keys = np.fromiter(self.rows, np.int64, len(self.rows))
        return {"keys": keys, "moments": self.moments[: len(keys)].copy()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        keys = np.asarray(state["keys"], np.int64)
        self.rows = {k: i for i, k in enumerate(keys.tolist())}
        self.moments = np.zeros((max(64, len(keys)), 3))
        self.moments[: len(keys)] = np.asarray(state["moments"], np.float64).reshape(-1, 3)


class DurationEstimator:
    """Median run time and its log-space spread per task, from finished tasks' run times only."""

    def __init__(
        self,
        levels: int,
        prior_median_s: float = 600.0,
        prior_sigma: float = 1.5,
        pseudo_count: float = 2.0,
    ):
        if levels < 1 or prior_median_s <= 0 or prior_sigma <= 0 or pseudo_count <= 0:
            raise ValueError(
                "DurationEstimator needs levels >= 1 and a positive prior median, prior sigma "
                "and pseudo-count"
            )
        self.levels = int(levels)
        self.prior_mu = float(np.log(prior_median_s))
        self.prior_var = float(prior_sigma) ** 2
        self.pseudo_count = float(pseudo_count)
        self._tables = [_KeyedMoments() for _ in range(self.levels)]

    def observe(self, keys: np.ndarray, durations_s: np.ndarray) -> None:
        """Learn from finished tasks: keys int64[n, levels] (coarse to fine), run times [n]."""
        keys = self._check(keys)
        durations = np.asarray(durations_s, np.float64).reshape(-1)
        if len(durations) != len(keys):
            raise ValueError(f"{len(keys)} key rows but {len(durations)} durations")
        known = np.isfinite(durations)
        if not known.all():
            keys, durations = keys[known], durations[known]
        if len(durations) == 0:
            return
        logs = np.log(np.maximum(durations, MIN_DURATION_S))
        for level, table in enumerate(self._tables):
            table.add(keys[:, level], logs)

    def estimate(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(median run time in seconds, sigma of log run time) per row of keys [n, levels]."""
        keys = self._check(keys)
        mu = np.full(len(keys), self.prior_mu)
        var = np.full(len(keys), self.prior_var)
        k = self.pseudo_count
        for level, table in enumerate(self._tables):
            count, total, squares = table.lookup(keys[:, level]).T
            mean = total / np.maximum(count, 1.0)
            spread = np.maximum(squares - count * mean * mean, 0.0)
            # The parent's mean and spread count as k pseudo-tasks around this key's own.
            new_mu = (k * mu + total) / (k + count)
            var = (k * (var + (mu - new_mu) ** 2) + spread + count * (mean - new_mu) ** 2) / (
                k + count
            )
            mu = new_mu
        return np.exp(mu), np.sqrt(var)

    def counts(self, keys: np.ndarray) -> np.ndarray:
        """int64[n, levels]: how many finished tasks each row's key at each level was shown
        (what an estimate rests on; 0 everywhere: the prior alone)."""
        keys = self._check(keys)
        return np.stack(
            [table.lookup(keys[:, level])[:, 0] for level, table in enumerate(self._tables)],
            axis=1,
        ).astype(np.int64)

    def _check(self, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, np.int64)
        if keys.ndim != 2 or keys.shape[1] != self.levels:
            raise ValueError(f"keys must be int64[n, {self.levels}], got shape {keys.shape}")
        return keys

    def get_state(self) -> dict[str, Any]:
        """Every level's keys and moments (copies)."""
        return {"levels": [table.get_state() for table in self._tables]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state` of an estimator with as many levels."""
        for table, level in zip(self._tables, state["levels"], strict=True):
            table.set_state(level)
