"""Batch column names shared by actors, replay and learner (RLlib's `Columns` where one exists)."""

from marl_alloc.floor.levels import LEVELS

# RLlib's Columns values, spelled out (tests/replay/test_imports.py checks they agree): importing
# ray.rllib takes seconds, and replay shard processes, which Ray restarts after a crash, must not.
OBS = "obs"
NEXT_OBS = "new_obs"
ACTIONS = "actions"
REWARDS = "rewards"
TERMINATEDS = "terminateds"

ACTION_MASK = "action_mask"
NEXT_ACTION_MASK = "next_action_mask"
# gamma ** k for the k env cycles the n-step transition spans; 0 when the episode terminated.
DISCOUNTS = "discounts"
AGENT_INDEX = "agent_index"

# Priority inputs produced by actors and the learner, consumed by replay.
TD_ABS = "td_abs"
ATTENTION = "attention"

# Added by replay when sampling.
WEIGHTS = "weights"
INDICES = "replay_indices"
GENERATIONS = "replay_generations"

# The team stream (module TEAM): one transition per decision cycle with every level's part,
# named `<level>_<column>` (see `level_column`); a level that sat out the cycle has ACTIVE False.
TEAM = "team"
TEAM_LEVELS = LEVELS
ACTIVE = "active"
NEXT_ACTIVE = "next_active"


def level_column(level: str, column: str) -> str:
    """Name of one level's part of a team transition, e.g. `rack_obs`."""
    return f"{level}_{column}"


TEAM_OBS_COLUMNS = tuple(
    level_column(level, column) for level in TEAM_LEVELS for column in (OBS, NEXT_OBS)
)

TRANSITION_COLUMNS = (
    OBS,
    ACTION_MASK,
    ACTIONS,
    REWARDS,
    NEXT_OBS,
    NEXT_ACTION_MASK,
    DISCOUNTS,
    AGENT_INDEX,
)
