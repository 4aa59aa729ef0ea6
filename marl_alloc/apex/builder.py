"""The one place that turns the whole marl-alloc Settings into an ApexConfig."""

from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from envs import VectorDatacenterEnv
from marl_alloc.apex.algorithm import ApexConfig
from marl_alloc.floor.settings import EnvConfig, Settings, TrainingConfig
from marl_alloc.forecasting.rl_module import FORECASTER_ID
from marl_alloc.policy import LEVEL_MODULES, build_policy_spec, module_for_agent
from marl_alloc.policy.forecaster import forecaster_module_spec

ENV_NAME = "marl_alloc/datacenter"


def env_dimensions(env: EnvConfig) -> tuple[dict[str, int], dict[str, int]]:
    """Per-level observation sizes and action counts of the configured datacenter."""
    datacenter = VectorDatacenterEnv(env, num_envs=1, seed=0)
    return dict(datacenter.obs_dims), dict(datacenter.num_actions)


def level_overrides(training: TrainingConfig) -> dict[str, ApexConfig]:
    """Per-module learning rates (`training.lr_cluster|lr_rack|lr_leaf`, and `lr_temporal` for
    the forecaster), as RLlib's per-module config overrides, so each optimizer gets its own."""
    rates = {level: training.level_lr(level) for level in LEVEL_MODULES}
    rates[FORECASTER_ID] = training.lr_temporal
    return {
        module_id: ApexConfig.overrides(lr=lr) for module_id, lr in rates.items() if lr is not None
    }


def policy_spec(settings: Settings) -> MultiRLModuleSpec:
    """The policy's MultiRLModuleSpec for the configured env and model."""
    obs_dims, num_actions = env_dimensions(settings.env)
    model = settings.model
    forecaster = None
    if model.forecaster.enabled:
        forecaster = forecaster_module_spec(model.forecaster, settings.env.forecast_horizon)
    return build_policy_spec(obs_dims, num_actions, model.policy, model.mixer, forecaster)


def build_apex_config(settings: Settings) -> ApexConfig:
    """RLlib config for the Ape-X algorithm from the typed settings; it carries them along."""
    training = settings.training
    spec = policy_spec(settings)
    config = (
        ApexConfig()
        .environment(
            ENV_NAME,
            env_config={"env": settings.env, "seed": settings.seed},
            # RLlib's check steps random actions, which our masks may forbid (most racks of a
            # whole Google cell are full); the env's own tests cover its API.
            disable_env_checking=True,
        )
        .multi_agent(
            # A list, not a set: module order (and so weight init) must not follow hash seeds.
            policies=list(spec.rl_module_specs),
            policy_mapping_fn=module_for_agent,
        )
        .rl_module(
            rl_module_spec=spec,
            algorithm_config_overrides_per_module=level_overrides(training),
        )
        .training(
            lr=training.lr,
            gamma=training.gamma,
            grad_clip=training.grad_clip,
            train_batch_size_per_learner=training.train_batch_size,
        )
        # Our env actors replace RLlib's env runners; the driver's learner holds the
        # checkpointed state while the learner actor trains.
        .env_runners(num_env_runners=0)
        .learners(num_learners=0)
        .debugging(seed=settings.seed)
    )
    config.settings = settings
    return config
