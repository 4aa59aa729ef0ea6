"""NStepAdder: turns lockstep level decisions into n-step transitions, one stream per level, plus
one team stream with a transition per decision cycle.

Each datacenter makes one decision cycle per pending task (cluster -> rack -> leaf). A level may sit
out a cycle (a deferred task needs no rack or leaf choice), so a level's transition spans the cycles
until that level acts again: rewards are discounted per cycle and `discounts` carries gamma ** k.
Every level's shared module sees one stream per env; the next observation is that of the next
decision at the same level (semi-MDP n-step return, as in options-style Q-learning).

The team stream (module `team`, for the mixer's loss) holds every level's observation, mask,
action and `active` flag of a cycle in which any level acted, with the same discounted team
reward and the next such cycle's observations, masks and flags.

With `acting_values`, each decision also keeps what the acting forward pass knew of it (the
taken action's Q value and attention, the best allowed Q value), and each transition the next
decision's best Q value: the initial priority then needs no second pass of the Q networks. These
columns stay in the actor (its worker removes them before pushing to replay).
"""

from collections.abc import Mapping

import numpy as np

from marl_alloc.floor import columns as C

Columns = dict[str, np.ndarray]

# The acting forward pass's values per decision (`acting_values`), and the next decision's best.
ACTING_Q = "acting_q"  # Q of the taken action
ACTING_ATTENTION = "acting_attention"  # attention on the taken action's node
BEST_Q = "best_q"  # max Q over the allowed actions
NEXT_BEST_Q = "next_best_q"
ACTING_COLUMNS = (ACTING_Q, ACTING_ATTENTION, BEST_Q)


class NStepWindow:
    """Open n-step transitions of one stream for B envs: at most n per env, in a per-env ring.

    `columns` gives the per-row shape and dtype of what a decision stores; `next_columns` names,
    for each column filled from the following decision, the stored column it copies.
    """

    def __init__(
        self,
        num_envs: int,
        n_step: int,
        gamma: float,
        columns: Mapping[str, tuple[tuple[int, ...], np.dtype]],
        next_columns: Mapping[str, str],
    ):
        shape = (num_envs, n_step)
        self.values = {
            name: np.zeros(shape + tuple(row), dtype) for name, (row, dtype) in columns.items()
        }
        self.next_columns = dict(next_columns)
        self.ret = np.zeros(shape, np.float32)
        self.discount = np.ones(shape, np.float32)
        self.steps = np.zeros(shape, np.int64)
        self.open = np.zeros(shape, bool)
        self.ptr = np.zeros(num_envs, np.int64)
        self.n_step = n_step
        self.gamma = np.float32(gamma)
        self.ready: list[Columns] = []

    def add(self, active: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        """Open a transition in the envs where the stream acted; the one opened n decisions
        earlier in the same slot is due and bootstraps from these values."""
        envs = np.flatnonzero(active)
        if envs.size == 0:
            return
        self.steps[envs] += self.open[envs]
        slot = self.ptr[envs]
        due = self.open[envs, slot] & (self.steps[envs, slot] >= self.n_step)
        if due.any():
            nxt = {name: values[source][envs[due]] for name, source in self.next_columns.items()}
            self._emit(envs[due], slot[due], nxt, terminal=False)
        for name, column in self.values.items():
            column[envs, slot] = values[name][envs]
        self.ret[envs, slot] = 0.0
        self.discount[envs, slot] = 1.0
        self.steps[envs, slot] = 0
        self.open[envs, slot] = True
        self.ptr[envs] = (slot + 1) % self.n_step

    def end_cycle(self, reward: np.ndarray, done: np.ndarray) -> None:
        """Credit the cycle's reward to every open transition; close those of finished envs."""
        self.ret += np.where(self.open, self.discount * reward[:, None], 0.0).astype(np.float32)
        self.discount = np.where(self.open, self.discount * self.gamma, self.discount)
        if done.any():
            e, s = np.nonzero(self.open & done[:, None])
            if e.size:
                nxt = {
                    name: np.zeros_like(self.values[source][e, s])
                    for name, source in self.next_columns.items()
                }
                self._emit(e, s, nxt, terminal=True)
            self.ptr[done] = 0

    def _emit(self, envs, slots, next_values: Columns, terminal: bool) -> None:
        row = {name: column[envs, slots].copy() for name, column in self.values.items()}
        row[C.REWARDS] = self.ret[envs, slots].copy()
        row[C.DISCOUNTS] = (0.0 if terminal else 1.0) * self.discount[envs, slots]
        row.update({name: np.array(value) for name, value in next_values.items()})
        self.ready.append(row)
        self.open[envs, slots] = False

    def take(self) -> Columns | None:
        """The finished transitions as one columnar batch (None if none), and clear them."""
        if not self.ready:
            return None
        out = {k: np.concatenate([part[k] for part in self.ready]) for k in self.ready[0]}
        self.ready.clear()
        return out


ColumnSpecs = dict[str, tuple[tuple[int, ...], np.dtype]]
_FLOAT = np.dtype(np.float32)


def _level_columns(obs_dim: int, num_actions: int, acting_values: bool) -> ColumnSpecs:
    columns = {
        C.OBS: ((obs_dim,), _FLOAT),
        C.ACTION_MASK: ((num_actions,), np.dtype(bool)),
        C.ACTIONS: ((), np.dtype(np.int64)),
        C.AGENT_INDEX: ((), np.dtype(np.int64)),
    }
    if acting_values:
        columns.update({name: ((), _FLOAT) for name in ACTING_COLUMNS})
    return columns


def _next_pairs(acting_values: bool) -> tuple[tuple[str, str], ...]:
    pairs = ((C.NEXT_OBS, C.OBS), (C.NEXT_ACTION_MASK, C.ACTION_MASK))
    return (*pairs, (NEXT_BEST_Q, BEST_Q)) if acting_values else pairs


def _team_columns(
    obs_dims: Mapping[str, int], num_actions: Mapping[str, int], acting_values: bool
) -> ColumnSpecs:
    columns = {}
    for level in obs_dims:
        per_level = _level_columns(obs_dims[level], num_actions[level], acting_values)
        per_level.pop(C.AGENT_INDEX)
        per_level[C.ACTIVE] = ((), np.dtype(bool))
        columns.update({C.level_column(level, k): spec for k, spec in per_level.items()})
    return columns


def _team_next_columns(levels, acting_values: bool) -> dict[str, str]:
    pairs = (*_next_pairs(acting_values), (C.NEXT_ACTIVE, C.ACTIVE))
    return {
        C.level_column(level, nxt): C.level_column(level, now)
        for level in levels
        for nxt, now in pairs
    }


class NStepAdder:
    """Collects per-level n-step transitions (and, with `team`, per-cycle team transitions) as
    columnar numpy batches."""

    def __init__(
        self,
        num_envs: int,
        obs_dims: dict[str, int],
        num_actions: dict[str, int],
        n_step: int,
        gamma: float,
        team: bool = False,
        acting_values: bool = False,
    ):
        next_level = dict(_next_pairs(acting_values))
        self.windows = {
            level: NStepWindow(
                num_envs,
                n_step,
                gamma,
                _level_columns(obs_dims[level], num_actions[level], acting_values),
                next_level,
            )
            for level in obs_dims
        }
        self.team = (
            NStepWindow(
                num_envs,
                n_step,
                gamma,
                _team_columns(obs_dims, num_actions, acting_values),
                _team_next_columns(obs_dims, acting_values),
            )
            if team
            else None
        )
        self._cycle: Columns = {}

    def add_decisions(
        self,
        level: str,
        active: np.ndarray,
        obs: np.ndarray,
        action_mask: np.ndarray,
        actions: np.ndarray,
        agent_index: np.ndarray,
        acting: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Record the decisions of `level` in the envs where it acted this cycle; `acting`
        holds the ACTING_COLUMNS of every env's row when the adder keeps acting values."""
        values = {
            C.OBS: obs,
            C.ACTION_MASK: action_mask,
            C.ACTIONS: actions,
            C.AGENT_INDEX: agent_index,
            **(acting or {}),
        }
        self.windows[level].add(active, values)
        if self.team is not None:
            for column, value in (*values.items(), (C.ACTIVE, active)):
                if column != C.AGENT_INDEX:
                    self._cycle[C.level_column(level, column)] = np.asarray(value)

    def end_cycle(self, reward: np.ndarray, done: np.ndarray) -> None:
        """Credit the cycle's reward to every open transition; close those of finished envs."""
        if self.team is not None:
            any_active = np.zeros(len(reward), bool)
            for level in self.windows:
                any_active |= self._cycle[C.level_column(level, C.ACTIVE)]
            # A cycle in which no level acted carries over, as a level's own stream does.
            self.team.add(any_active, self._cycle)
            self._cycle = {}
        for window in self._streams().values():
            window.end_cycle(reward, done)

    def _streams(self) -> dict[str, NStepWindow]:
        return self.windows if self.team is None else {**self.windows, C.TEAM: self.team}

    def take(self) -> dict[str, dict[str, np.ndarray]]:
        """Return and clear the finished transitions, one columnar batch per stream."""
        out = {}
        for stream, window in self._streams().items():
            batch = window.take()
            if batch is not None:
                out[stream] = batch
        return out
