"""Synthetic transition batches whose rows can be recognised after sampling."""

import numpy as np

from marl_alloc.floor import columns as C


def make_batch(first: int, n: int, obs_dim: int = 6, num_actions: int = 3) -> dict:
    """Rows first .. first + n - 1: every column is a function of the row's id (REWARDS)."""
    ids = np.arange(first, first + n)
    obs = ids[:, None] * 0.25 + np.arange(obs_dim, dtype=np.float32)
    return {
        C.OBS: obs.astype(np.float32),
        C.NEXT_OBS: (obs + 1).astype(np.float32),
        C.ACTION_MASK: (ids[:, None] + np.arange(num_actions)) % 2 == 0,
        C.NEXT_ACTION_MASK: (ids[:, None] + np.arange(num_actions)) % 3 == 0,
        C.ACTIONS: ids % num_actions,
        C.REWARDS: ids.astype(np.float32),
        C.DISCOUNTS: np.full(n, 0.99, np.float32),
        C.AGENT_INDEX: ids % 5,
    }


def expected_rows(ids: np.ndarray, obs_dim: int = 6, num_actions: int = 3) -> dict:
    """The columns make_batch gives the rows with these ids."""
    ids = np.asarray(ids).astype(np.int64)
    rows = [make_batch(int(i), 1, obs_dim, num_actions) for i in ids]
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def with_priority_inputs(batch: dict, td_abs: np.ndarray | None = None) -> dict:
    """The batch as actors send it to a shard: with TD_ABS and ATTENTION columns."""
    n = len(batch[C.ACTIONS])
    td = np.ones(n, np.float32) if td_abs is None else td_abs
    return {**batch, C.TD_ABS: td, C.ATTENTION: np.zeros(n, np.float32)}
