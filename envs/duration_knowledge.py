"""DurationKnowledge: the run time each decision may assume, per env.knowledge.durations.

- `estimate` (the default): a DurationEstimator per simulator, fed the run time of every task
  as it finishes, keyed by what is known at submit time, coarse to fine: the datacenter, the
  task's scheduling class and priority, its owner, its owner and request shape (tasks of one
  owner asking for the same CPU and memory are usually copies of one program). Tasks of a
  Google job are submitted together, so none of a job's siblings has finished when it is
  placed: the job itself adds nothing the owner does not.
- `oracle`: the true run time (an ablation: what clairvoyance is worth).
- `none`: no run time at all (0 s, uncertainty 0).

Every user of a run time reads it from here: the observations, duration-aware heuristics
(through PlacementQuery) and the reward's commitment charge. Each episode starts with no
history; early on only the short runs have ended, so estimates start low (right-censoring:
`python -m marl_alloc.bench durations` measures the error that leaves).
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.duration_estimator import DurationEstimator, combine_keys
from marl_alloc.floor.settings.env import KnowledgeConfig

KEY_LEVELS = ("datacenter", "class", "owner", "owner_shape")
# The task columns a belief is made from (duration_s only under oracle).
BELIEF_COLUMNS = ("duration_s", "task_class", "priority", "owner", "cpu", "mem")
# The running-table columns a finished task teaches the estimator from.
FINISHED_COLUMNS = ("run_s", "task_class", "priority", "owner", "cpu", "mem")


def task_keys(env: np.ndarray, tasks: Mapping[str, np.ndarray]) -> np.ndarray:
    """int64[n, len(KEY_LEVELS)] estimator keys of tasks (columns task_class, priority, owner,
    cpu, mem) in datacenters `env`, so that datacenters never learn from each other."""
    datacenter = combine_keys(env)
    owner = combine_keys(tasks["owner"], prefix=datacenter)
    return np.stack(
        [
            datacenter,
            combine_keys(tasks["task_class"], tasks["priority"], prefix=datacenter),
            owner,
            combine_keys(tasks["cpu"], tasks["mem"], prefix=owner),
        ],
        axis=1,
    )


class DurationKnowledge:
    """The believed run time of tasks and, under `estimate`, the estimator behind it."""

    def __init__(self, config: KnowledgeConfig):
        self.mode = config.durations
        self.config = config
        self.estimator = self._new_estimator()

    def _new_estimator(self) -> DurationEstimator:
        c = self.config
        return DurationEstimator(len(KEY_LEVELS), c.prior_median_s, c.prior_sigma, c.pseudo_count)

    def reset(self) -> None:
        """Forget every finished task (a new episode: its history starts empty)."""
        self.estimator = self._new_estimator()

    def believed(
        self, env: np.ndarray, tasks: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(run time in seconds, uncertainty as log-space sigma) a decision may assume for
        these tasks of datacenters `env`, now."""
        n = len(np.asarray(env))
        if self.mode == "oracle":
            return np.asarray(tasks["duration_s"], np.float64), np.zeros(n)
        if self.mode == "none" or n == 0:
            return np.zeros(n), np.zeros(n)
        return self.estimator.estimate(task_keys(env, tasks))

    def believe_pending(self, pending: dict[str, np.ndarray], envs: np.ndarray) -> None:
        """Set duration_est_s and duration_unc of these envs' pending tasks (the env's pending
        columns) to what a decision may assume now; their true duration_s stays untouched."""
        believed, uncertainty = self.believed(envs, {k: pending[k][envs] for k in BELIEF_COLUMNS})
        pending["duration_est_s"][envs] = believed
        pending["duration_unc"][envs] = uncertainty

    def observe_finished(self, running: Any, env: np.ndarray, slots: np.ndarray) -> None:
        """Learn from running-table rows (env, slot) whose tasks just finished (run_s NaN:
        run time unknown); only `estimate` learns."""
        if self.mode == "estimate" and len(env):
            self.observe(env, {k: running[k][env, slots] for k in FINISHED_COLUMNS})

    def observe(self, env: np.ndarray, tasks: Mapping[str, np.ndarray]) -> None:
        """Learn from finished tasks (columns FINISHED_COLUMNS) of datacenters `env`, wherever
        they come from (the Kubernetes extender feeds finished pods); only `estimate` learns."""
        if self.mode == "estimate" and len(env):
            self.estimator.observe(task_keys(env, tasks), tasks["run_s"])

    def get_state(self) -> dict[str, Any]:
        """The estimator's tables."""
        return self.estimator.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state`."""
        self.estimator.set_state(state)
