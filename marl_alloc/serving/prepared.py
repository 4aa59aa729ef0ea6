"""Prepared: a parsed extender call and everything its answer is computed from."""

import dataclasses

import numpy as np

from marl_alloc.serving.decisions import HoldDecision, ScoreDecision
from marl_alloc.serving.kube_objects import PodRequest
from marl_alloc.serving.layout import NodeLayout
from marl_alloc.serving.pod_durations import DurationBelief
from marl_alloc.serving.protocol import ExtenderArgs


@dataclasses.dataclass
class Prepared:
    """A parsed request and everything the answer is computed from."""

    verb: str
    args: ExtenderArgs
    names: list[str]  # candidate names in request order
    pod: PodRequest
    layout: NodeLayout  # the candidates whose objects are known, on the policy's shape
    name_rows: np.ndarray | None  # each name's layout.table row (-1: unknown); None: the table
    # lists the candidates in request order
    feasible: np.ndarray  # bool per slot
    now_s: float
    g_per_kwh: float
    can_defer: bool  # the policy's defer action is allowed (the simulator's rule)
    waited_s: float  # since the pod was created
    decision: ScoreDecision | HoldDecision | None  # only when the policy's answer is wanted
    duration: DurationBelief | None = None  # the pod's run time as the policy is told it

    def request_order(self, per_row: np.ndarray) -> np.ndarray:
        """A value per table row as a value per request name (0 for unknown names)."""
        if self.name_rows is None:
            return per_row
        known = self.name_rows >= 0
        return np.where(known, per_row[np.where(known, self.name_rows, 0)], 0)
