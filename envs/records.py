"""Column layouts of the env's task tables and the named tuples it returns."""

from typing import NamedTuple

import numpy as np

from envs.arrivals import QUEUE_DTYPES

# duration_est_s / duration_unc: the run time a decision may assume and its uncertainty (log
# units), set when the task becomes pending (envs/duration_knowledge.py).
PENDING_DTYPES = {
    **QUEUE_DTYPES,
    "defers": np.dtype(np.int16),
    "duration_est_s": np.dtype(np.float32),
    "duration_unc": np.dtype(np.float32),
}
DEFER_DTYPES = {**PENDING_DTYPES, "resubmit_s": np.dtype(np.float64)}
RUNNING_DTYPES = {
    "host": np.dtype(np.int32),
    "cpu": np.dtype(np.float32),
    "mem": np.dtype(np.float32),
    "factor": np.dtype(np.float32),  # mean usage per unit requested
    "z": np.dtype(np.float32),  # usage noise state (envs.usage)
    "usage": np.dtype(np.float32),
    # What a scheduler has observed of the task's usage: the values it showed at its start and
    # at each usage period since, as a count and a sum (envs/usage_forecast.py).
    "usage_n": np.dtype(np.int32),
    "usage_sum": np.dtype(np.float64),
    "end_s": np.dtype(np.float64),
    # When decisions believe the task ends (its start plus the believed run time).
    "est_end_s": np.dtype(np.float64),
    # What the run-time estimator learns from once the task ends: its keys and true run time
    # (NaN when it is unknown: tasks already running when the episode began).
    "run_s": np.dtype(np.float32),
    "priority": np.dtype(np.int16),
    "owner": np.dtype(np.int64),
    "task_class": np.dtype(np.int16),
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
