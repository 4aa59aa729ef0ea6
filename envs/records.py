"""Column layouts of the env's task tables and the named tuples it returns."""

from typing import NamedTuple

import numpy as np

from envs.arrivals import QUEUE_DTYPES

PENDING_DTYPES = {**QUEUE_DTYPES, "defers": np.dtype(np.int16)}
DEFER_DTYPES = {**PENDING_DTYPES, "resubmit_s": np.dtype(np.float64)}
RUNNING_DTYPES = {
    "host": np.dtype(np.int32),
    "cpu": np.dtype(np.float32),
    "mem": np.dtype(np.float32),
    "factor": np.dtype(np.float32),  # mean usage per unit requested
    "z": np.dtype(np.float32),  # usage noise state (envs.usage)
    "usage": np.dtype(np.float32),
    "end_s": np.dtype(np.float64),
}


class LevelObs(NamedTuple):
    """What the acting level sees; rows where `active` is False need no decision (mask all True)."""

    level: str
    obs: np.ndarray  # float32[B, obs_dims[level]]
    action_mask: np.ndarray  # bool[B, num_actions[level]]
    active: np.ndarray  # bool[B]
    agent_index: np.ndarray  # int64[B]: the acting agent's index within its level


class StepResult(NamedTuple):
    """The next level to act, and after a leaf step the cycle's reward."""

    next: LevelObs
    reward: np.ndarray  # float32[B], non-zero only when cycle_end
    cycle_end: bool
    done: np.ndarray  # bool[B]: a finite workload's last task was decided; reset next
