"""Build the policy's MultiRLModuleSpec from the env's per-level sizes and the model config."""

from collections.abc import Mapping

import gymnasium as gym
import numpy as np
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from envs.observations import GROUP_FEATURES, HOST_FEATURES
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings import MixerConfig, PolicyConfig
from marl_alloc.forecasting.rl_module import FORECASTER_ID
from marl_alloc.policy.level_q_module import LevelQModule
from marl_alloc.policy.mixer_module import MixerModule

LEVEL_MODULES = C.TEAM_LEVELS
# Feature block per child in each level's observation (envs/observations.py), and the actions a
# level scores from the agent itself rather than from a child (the cluster's defer).
CHILD_FEATURES = {"cluster": GROUP_FEATURES, "rack": GROUP_FEATURES, "leaf": HOST_FEATURES}
EXTRA_ACTIONS = {"cluster": 1, "rack": 0, "leaf": 0}
GAT_KEYS = ("embed_dim", "heads", "gat_layers")


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
    obs_dims: Mapping[str, int],
    num_actions: Mapping[str, int],
    policy_config: PolicyConfig,
    mixer_config: MixerConfig | None = None,
    forecaster: RLModuleSpec | None = None,
) -> MultiRLModuleSpec:
    """One LevelQModule per level, shared by every agent of that level; with a mixer config
    whose `kind` is not none, the team mixer (module `team`, trained, never acting); with a
    forecaster spec, the workload forecaster (module `forecaster`, trained, never acting)."""
    specs = {
        level: RLModuleSpec(
            module_class=LevelQModule,
            observation_space=level_observation_space(obs_dims[level], num_actions[level]),
            action_space=gym.spaces.Discrete(num_actions[level]),
            model_config=level_model_config(
                level, obs_dims[level], num_actions[level], policy_config
            ),
        )
        for level in LEVEL_MODULES
    }
    if mixer_config is not None and mixer_config.kind != "none":
        specs[C.TEAM] = mixer_spec(obs_dims, num_actions, mixer_config)
    if forecaster is not None:
        specs[FORECASTER_ID] = forecaster
    return MultiRLModuleSpec(rl_module_specs=specs)


def mixer_spec(
    obs_dims: Mapping[str, int], num_actions: Mapping[str, int], mixer_config: MixerConfig
) -> RLModuleSpec:
    """The mixer's spec: its state is the levels' observations side by side."""
    return RLModuleSpec(
        module_class=MixerModule,
        observation_space=gym.spaces.Box(
            -np.inf, np.inf, (sum(obs_dims[level] for level in LEVEL_MODULES),), np.float32
        ),
        action_space=gym.spaces.MultiDiscrete([num_actions[level] for level in LEVEL_MODULES]),
        model_config={
            "kind": mixer_config.kind,
            "num_agents": len(LEVEL_MODULES),
            "hypernet_hidden": mixer_config.hypernet_hidden,
            "normalize": mixer_config.normalize,
        },
    )


def level_model_config(
    level: str, obs_dim: int, num_actions: int, policy_config: PolicyConfig
) -> dict:
    """The module's model_config: the encoder, its sizes and, for GAT, the observation layout."""
    if policy_config.encoder == "mlp":
        return {
            "encoder": "mlp",
            "hidden_sizes": list(policy_config.hidden_sizes),
            "dueling": policy_config.dueling,
        }
    children = num_actions - EXTRA_ACTIONS[level]
    return {
        "encoder": "gat",
        "child_features": CHILD_FEATURES[level],
        "context_features": obs_dim - children * CHILD_FEATURES[level],
        "extra_actions": EXTRA_ACTIONS[level],
        **{key: getattr(policy_config, key) for key in GAT_KEYS},
    }


def spec_spaces(spec: MultiRLModuleSpec) -> dict[str, tuple[gym.Space, gym.Space]]:
    """(observation space, action space) per module, as `build_learner(spaces=...)` takes."""
    return {
        module_id: (sub.observation_space, sub.action_space)
        for module_id, sub in spec.rl_module_specs.items()
    }
