"""The one place that reads the whole marl-alloc config and turns it into an ApexConfig."""

from collections.abc import Mapping
from typing import Any

from envs import VectorDatacenterEnv
from marl_alloc import columns as C
from marl_alloc.apex.algorithm import ApexConfig
from marl_alloc.policy import LEVEL_MODULES, build_policy_spec, mixer_kind, module_for_agent

ENV_NAME = "marl_alloc/datacenter"


def env_dimensions(env_config: Mapping) -> tuple[dict[str, int], dict[str, int]]:
    """Per-level observation sizes and action counts of the configured datacenter."""
    env = VectorDatacenterEnv(env_config, num_envs=1, seed=0)
    return dict(env.obs_dims), dict(env.num_actions)


def level_overrides(training: Mapping[str, Any]) -> dict[str, Any]:
    """Per-level learning rates (`training.lr_cluster|lr_rack|lr_leaf`; null keeps `lr`), as
    RLlib's per-module config overrides, so each level's optimizer gets its own."""
    return {
        level: ApexConfig.overrides(lr=float(training[f"lr_{level}"]))
        for level in LEVEL_MODULES
        if training.get(f"lr_{level}") is not None
    }


def build_apex_config(settings: Mapping[str, Any]) -> ApexConfig:
    """RLlib config for the Ape-X algorithm from the resolved Hydra config tree."""
    obs_dims, num_actions = env_dimensions(settings["env"])
    training = settings["training"]
    model = settings["model"]
    modules = set(LEVEL_MODULES)
    if mixer_kind(model["mixer"]) != "none":
        modules.add(C.TEAM)
    config = (
        ApexConfig()
        .environment(
            ENV_NAME,
            env_config={"env": settings["env"], "seed": settings["seed"]},
            # RLlib's check steps random actions, which our masks may forbid (most racks of a
            # whole Google cell are full); the env's own tests cover its API.
            disable_env_checking=True,
        )
        .multi_agent(
            policies=modules,
            policy_mapping_fn=module_for_agent,
            algorithm_config_overrides_per_module=level_overrides(training),
        )
        .rl_module(
            rl_module_spec=build_policy_spec(obs_dims, num_actions, model["policy"], model["mixer"])
        )
        .training(
            lr=float(training["lr"]),
            gamma=float(training["gamma"]),
            grad_clip=float(training["grad_clip"]),
            train_batch_size_per_learner=int(training["train_batch_size"]),
        )
        # Our env actors replace RLlib's env runners; the driver's learner holds the
        # checkpointed state while the learner actor trains.
        .env_runners(num_env_runners=0)
        .learners(num_learners=0)
        .debugging(seed=int(settings["seed"]))
    )
    config.marl_alloc = dict(settings)
    config.target_update_every = int(training["target_update_every"])
    config.tau = float(training["tau"])
    config.mixer_loss_weight = float(training["mixer_loss_weight"])
    config.credit_weight = float(training["credit_weight"])
    return config
