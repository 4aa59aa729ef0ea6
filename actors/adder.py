"""NStepAdder: turns lockstep level decisions into n-step transitions, one stream per level.

Each datacenter makes one decision cycle per pending task (cluster -> rack -> leaf). A level may sit
out a cycle (a deferred task needs no rack or leaf choice), so a level's transition spans the cycles
until that level acts again: rewards are discounted per cycle and `discounts` carries gamma ** k.
Every level's shared module sees one stream per env; the next observation is that of the next
decision at the same level (semi-MDP n-step return, as in options-style Q-learning).
"""

import numpy as np

from marl_alloc import columns as C


class LevelWindow:
    """Open transitions of one level for B envs: at most n per env, in a per-env ring."""

    def __init__(self, num_envs: int, n_step: int, obs_dim: int, num_actions: int):
        shape = (num_envs, n_step)
        self.obs = np.zeros(shape + (obs_dim,), np.float32)
        self.mask = np.zeros(shape + (num_actions,), bool)
        self.action = np.zeros(shape, np.int64)
        self.agent = np.zeros(shape, np.int64)
        self.ret = np.zeros(shape, np.float32)
        self.discount = np.ones(shape, np.float32)
        self.steps = np.zeros(shape, np.int64)
        self.open = np.zeros(shape, bool)
        self.ptr = np.zeros(num_envs, np.int64)
        self.n_step = n_step


class NStepAdder:
    """Collects per-level n-step transitions as columnar numpy batches."""

    def __init__(
        self,
        num_envs: int,
        obs_dims: dict[str, int],
        num_actions: dict[str, int],
        n_step: int,
        gamma: float,
    ):
        self.gamma = np.float32(gamma)
        self.windows = {
            level: LevelWindow(num_envs, n_step, obs_dims[level], num_actions[level])
            for level in obs_dims
        }
        self._ready: dict[str, list[dict[str, np.ndarray]]] = {level: [] for level in obs_dims}

    def add_decisions(
        self,
        level: str,
        active: np.ndarray,
        obs: np.ndarray,
        action_mask: np.ndarray,
        actions: np.ndarray,
        agent_index: np.ndarray,
    ) -> None:
        """Record the decisions of `level` in the envs where it acted this cycle."""
        w = self.windows[level]
        envs = np.flatnonzero(active)
        if envs.size == 0:
            return
        w.steps[envs] += w.open[envs]
        slot = w.ptr[envs]
        due = w.open[envs, slot] & (w.steps[envs, slot] >= w.n_step)
        if due.any():
            e, s = envs[due], slot[due]
            self._emit(level, e, s, obs[envs[due]], action_mask[envs[due]], terminal=False)
        w.obs[envs, slot] = obs[envs]
        w.mask[envs, slot] = action_mask[envs]
        w.action[envs, slot] = actions[envs]
        w.agent[envs, slot] = agent_index[envs]
        w.ret[envs, slot] = 0.0
        w.discount[envs, slot] = 1.0
        w.steps[envs, slot] = 0
        w.open[envs, slot] = True
        w.ptr[envs] = (slot + 1) % w.n_step

    def end_cycle(self, reward: np.ndarray, done: np.ndarray) -> None:
        """Credit the cycle's reward to every open transition; close those of finished envs."""
        for level, w in self.windows.items():
            w.ret += np.where(w.open, w.discount * reward[:, None], 0.0).astype(np.float32)
            w.discount = np.where(w.open, w.discount * self.gamma, w.discount)
            if done.any():
                e, s = np.nonzero(w.open & done[:, None])
                if e.size:
                    self._emit(level, e, s, None, None, terminal=True)
                w.ptr[done] = 0

    def _emit(self, level, envs, slots, next_obs, next_mask, terminal: bool) -> None:
        w = self.windows[level]
        if terminal:
            next_obs = np.zeros_like(w.obs[envs, slots])
            next_mask = np.zeros_like(w.mask[envs, slots])
        self._ready[level].append(
            {
                C.OBS: w.obs[envs, slots].copy(),
                C.ACTION_MASK: w.mask[envs, slots].copy(),
                C.ACTIONS: w.action[envs, slots].copy(),
                C.AGENT_INDEX: w.agent[envs, slots].copy(),
                C.REWARDS: w.ret[envs, slots].copy(),
                C.DISCOUNTS: (0.0 if terminal else 1.0) * w.discount[envs, slots],
                C.NEXT_OBS: np.asarray(next_obs, np.float32).copy(),
                C.NEXT_ACTION_MASK: np.asarray(next_mask, bool).copy(),
            }
        )
        w.open[envs, slots] = False

    def take(self) -> dict[str, dict[str, np.ndarray]]:
        """Return and clear the finished transitions, one columnar batch per level."""
        out = {}
        for level, parts in self._ready.items():
            if parts:
                out[level] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
                parts.clear()
        return out
