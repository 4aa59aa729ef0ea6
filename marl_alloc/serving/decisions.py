"""What one call asks of the policy, level by level, and what it gets back.

A decision names the rows of each level whose Q values it needs (knowing the Q values of the
levels above), builds their observations and takes their Q values; LevelQPolicy.decide runs a
batch of decisions with one forward pass per level, cluster first.
"""

import dataclasses
import math

import numpy as np

from marl_alloc.floor.levels import LEVELS
from marl_alloc.serving.level_obs import LevelObservations
from marl_alloc.serving.top_down import TopDownRanking

NO_ROWS = np.zeros(0, np.int64)


@dataclasses.dataclass(frozen=True)
class PolicyAnswer:
    """The policy's part of an answer: scores per table row (prioritize) or the cluster level's
    Q values (-inf on rows not evaluated; a filter that may hold the pod back)."""

    scores: np.ndarray | None = None
    cluster_q: np.ndarray | None = None


class ScoreDecision:
    """A prioritize call: the candidates' scores, refined top-down (marl_alloc.serving.top_down)."""

    def __init__(self, levels: LevelObservations, ranking: TopDownRanking, num_rows: int):
        self.levels = levels
        self.ranking = ranking
        self.num_rows = num_rows
        self.rows_evaluated = {level: 0 for level in LEVELS}
        self.due_s = math.inf  # perf_counter time past which nobody waits for the answer

    def rows(self, level: str) -> np.ndarray:
        """Rows of `level` whose Q values the scores still depend on."""
        return self.ranking.rows(level)

    def observations(self, level: str, rows: np.ndarray) -> np.ndarray:
        """The observations of `rows` of `level`."""
        return self.levels.observations(level, rows)

    def take(self, level: str, rows: np.ndarray, q: np.ndarray) -> None:
        """The Q values of `rows` of `level`."""
        self.rows_evaluated[level] += len(rows)
        self.ranking.refine(level, rows, q)

    def result(self) -> PolicyAnswer:
        """The scores, once every level has been asked."""
        return PolicyAnswer(scores=self.ranking.scores(self.num_rows))


class HoldDecision:
    """A filter call on a deferrable pod under serve.carbon.hold_by=policy: every virtual
    cluster's Q values, defer action included."""

    def __init__(self, levels: LevelObservations):
        self.levels = levels
        self.cluster_q = np.full(levels.mask["cluster"].shape, -np.inf, np.float32)
        self.rows_evaluated = {level: 0 for level in LEVELS}
        self.due_s = math.inf  # perf_counter time past which nobody waits for the answer

    def rows(self, level: str) -> np.ndarray:
        """The cluster rows with a feasible action; no rows below."""
        return self.levels.rows_with_action(level) if level == "cluster" else NO_ROWS

    def observations(self, level: str, rows: np.ndarray) -> np.ndarray:
        """The observations of `rows` of `level`."""
        return self.levels.observations(level, rows)

    def take(self, level: str, rows: np.ndarray, q: np.ndarray) -> None:
        """The Q values of `rows` of `level`."""
        self.rows_evaluated[level] += len(rows)
        self.cluster_q[rows] = q

    def result(self) -> PolicyAnswer:
        """The cluster level's Q values."""
        return PolicyAnswer(cluster_q=self.cluster_q)
