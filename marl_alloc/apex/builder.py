"""The one place that reads the whole marl-alloc config and turns it into an ApexConfig."""

from collections.abc import Mapping
from typing import Any

from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from envs import EnvConfig, VectorDatacenterEnv
from marl_alloc.apex.algorithm import ApexConfig
from marl_alloc.forecasting.rl_module import FORECASTER_ID
from marl_alloc.policy import LEVEL_MODULES, build_policy_spec, module_for_agent
from marl_alloc.policy.forecaster import forecaster_module_spec

ENV_NAME = "marl_alloc/datacenter"


def env_dimensions(env_config: Mapping) -> tuple[dict[str, int], dict[str, int]]:
    """Per-level observation sizes and action counts of the configured datacenter."""
    env = VectorDatacenterEnv(env_config, num_envs=1, seed=0)
    return dict(env.obs_dims), dict(env.num_actions)


# The config key of each module's own learning rate (null keeps `training.lr`).
LR_KEYS = {**{level: f"lr_{level}" for level in LEVEL_MODULES}, FORECASTER_ID: "lr_temporal"}


def level_overrides(training: Mapping[str, Any]) -> dict[str, Any]:
    """Per-module learning rates (`training.lr_cluster|lr_rack|lr_leaf`, and `lr_temporal` for
    the forecaster), as RLlib's per-module config overrides, so each optimizer gets its own."""
    return {
        module_id: ApexConfig.overrides(lr=float(training[key]))
        for module_id, key in LR_KEYS.items()
        if training.get(key) is not None
    }


def forecaster_enabled(model: Mapping[str, Any]) -> bool:
    """Whether the policy holds a workload forecaster (`model.forecaster.enabled`)."""
    return bool((model.get("forecaster") or {}).get("enabled", False))


def policy_spec(settings: Mapping[str, Any]) -> MultiRLModuleSpec:
    """The policy's MultiRLModuleSpec for the configured env and model."""
    obs_dims, num_actions = env_dimensions(settings["env"])
    model = settings["model"]
    forecaster = None
    if forecaster_enabled(model):
        horizon = EnvConfig.from_mapping(settings["env"]).forecast_horizon
        forecaster = forecaster_module_spec(model["forecaster"], horizon)
    return build_policy_spec(
        obs_dims, num_actions, model["policy"], model["mixer"], forecaster=forecaster
    )


def build_apex_config(settings: Mapping[str, Any]) -> ApexConfig:
    """RLlib config for the Ape-X algorithm from the resolved Hydra config tree."""
    training = settings["training"]
    spec = policy_spec(settings)
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
            # A list, not a set: module order (and so weight init) must not follow hash seeds.
            policies=list(spec.rl_module_specs),
            policy_mapping_fn=module_for_agent,
            algorithm_config_overrides_per_module=level_overrides(training),
        )
        .rl_module(rl_module_spec=spec)
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
