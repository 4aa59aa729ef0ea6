"""Batch column names shared by actors, replay and learner (RLlib's `Columns` where one exists)."""

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
