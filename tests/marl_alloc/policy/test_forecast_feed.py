"""Evaluation with a forecaster policy: the same feed as training fills the forecast slots."""

import dataclasses

import numpy as np
import torch

from marl_alloc.apex.builder import policy_spec
from marl_alloc.bench.held_out import HeldOutEpisodes
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import ModulePolicy, acting_policy
from marl_alloc.policy.forecast_feed import ForecastingPolicy
from marl_alloc.scoring import score

SETTINGS = ["model.forecaster.enabled=true", "model.forecaster.resolution_s=2.0"]


def _module(overrides=()):
    settings = compose_settings([*SETTINGS, *overrides])
    torch.manual_seed(0)
    module = policy_spec(settings).build()
    module.foreach_module(lambda _, m: m.eval())
    return module, dataclasses.replace(settings.env, episode_tasks=60)


def test_a_forecaster_policy_observes_forecasts_in_evaluation():
    module, env_settings = _module()
    policy = acting_policy(module)
    assert isinstance(policy, ForecastingPolicy)
    seen = []
    act = policy.policy.act

    def spy(env, level_obs):
        seen.append(level_obs.obs[:, -env.config.forecast_horizon :].copy())
        return act(env, level_obs)

    policy.policy.act = spy
    metrics = score(policy, env_settings, episodes=2, seed=3)
    assert metrics["tasks_placed"] > 0
    assert np.abs(np.concatenate(seen)).max() > 0  # the slots are not zeros
    assert policy.feed.env.demand_bins_closed[0] > 0


def test_without_a_forecaster_evaluation_is_the_plain_acting_policy():
    module, _ = _module(["model.forecaster.enabled=false"])
    assert isinstance(acting_policy(module), ModulePolicy)


def test_held_out_episodes_score_a_forecaster_policy_twice_the_same():
    module, env_settings = _module()
    held_out = HeldOutEpisodes(env_settings, episodes=2, tasks=40, seed=5)
    first = held_out.mean_cost(acting_policy(module))
    assert first == held_out.mean_cost(acting_policy(module))
