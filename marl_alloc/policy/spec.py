"""Build the policy's MultiRLModuleSpec from the env's per-level sizes and the model config."""

from collections.abc import Mapping

import gymnasium as gym
import numpy as np
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from marl_alloc.policy.level_q_module import LevelQModule

LEVEL_MODULES = ("cluster", "rack", "leaf")


def module_for_agent(agent_id: str, *args, **kwargs) -> str:
    """Map an agent id such as `rack_2` to its level's shared module (RLlib policy mapping)."""
    return agent_id.split("_", 1)[0]


def level_observation_space(obs_dim: int, num_actions: int) -> gym.spaces.Dict:
    """Observation space of one level's agents: features plus the action mask."""
    return gym.spaces.Dict(
        {
            "obs": gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
            "action_mask": gym.spaces.Box(0.0, 1.0, (num_actions,), np.float32),
        }
    )


def build_policy_spec(
    obs_dims: Mapping[str, int], num_actions: Mapping[str, int], policy_config: Mapping
) -> MultiRLModuleSpec:
    """One LevelQModule per level, shared by every agent of that level."""
    model_config = {
        "hidden_sizes": list(policy_config["hidden_sizes"]),
        "dueling": bool(policy_config["dueling"]),
    }
    return MultiRLModuleSpec(
        rl_module_specs={
            level: RLModuleSpec(
                module_class=LevelQModule,
                observation_space=level_observation_space(obs_dims[level], num_actions[level]),
                action_space=gym.spaces.Discrete(num_actions[level]),
                model_config=model_config,
            )
            for level in LEVEL_MODULES
        }
    )


def spec_spaces(spec: MultiRLModuleSpec) -> dict[str, tuple[gym.Space, gym.Space]]:
    """(observation space, action space) per module, as `build_learner(spaces=...)` takes."""
    return {
        module_id: (sub.observation_space, sub.action_space)
        for module_id, sub in spec.rl_module_specs.items()
    }
