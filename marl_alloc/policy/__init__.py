"""The hierarchical allocation policy as RLlib RLModules: one shared Q module per level, and
the team mixer that trains them together."""

from marl_alloc.policy.level_q_module import LevelQModule, masked_greedy
from marl_alloc.policy.mixer_module import MixerModule
from marl_alloc.policy.spec import (
    LEVEL_MODULES,
    build_policy_spec,
    level_observation_space,
    mixer_kind,
    module_for_agent,
    spec_spaces,
)

__all__ = [
    "LEVEL_MODULES",
    "LevelQModule",
    "MixerModule",
    "build_policy_spec",
    "level_observation_space",
    "masked_greedy",
    "mixer_kind",
    "module_for_agent",
    "spec_spaces",
]
