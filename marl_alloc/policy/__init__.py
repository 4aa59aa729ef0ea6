"""The hierarchical allocation policy as RLlib RLModules: one shared Q module per level, and
the team mixer that trains them together; and how a checkpoint of it acts
(`load_acting_policy`)."""

from marl_alloc.policy.acting import ModulePolicy, acting_policy, load_acting_policy
from marl_alloc.policy.level_q_module import LevelQModule, masked_greedy
from marl_alloc.policy.mixer_module import MixerModule
from marl_alloc.policy.spec import (
    LEVEL_MODULES,
    build_policy_spec,
    level_observation_space,
    module_for_agent,
    spec_spaces,
)

__all__ = [
    "LEVEL_MODULES",
    "LevelQModule",
    "MixerModule",
    "ModulePolicy",
    "acting_policy",
    "load_acting_policy",
    "build_policy_spec",
    "level_observation_space",
    "masked_greedy",
    "module_for_agent",
    "spec_spaces",
]
