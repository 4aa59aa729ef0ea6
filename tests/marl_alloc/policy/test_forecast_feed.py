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


def _fed_env(share: float, num_envs: int = 6, collect_rows: bool = False):
    """A feed of batch_share `share` on `num_envs` envs, run 60 cycles, its forwards logged:
    (the envs served, their forecasts, each one's forecast from a forward of its window alone)."""
    from envs import VectorDatacenterEnv
    from marl_alloc.policy.forecast_feed import ForecastFeed

    module, env_settings = _module([f"model.forecaster.batch_share={share}"])
    env = VectorDatacenterEnv(env_settings, num_envs=num_envs, seed=4)
    feed = ForecastFeed(module["forecaster"], collect_rows=collect_rows)
    feed.attach(env)
    forwards = []
    set_forecast, net = env.set_forecast, module["forecaster"].net

    def logged(forecast, envs=None):
        closed = env.demand_bins_closed
        with torch.inference_mode():
            alone = [
                net(torch.from_numpy(feed.features(env, np.array([b]), closed[[b]])[0]))
                for b in envs
            ]
        steps = forecast.shape[-1]
        forwards.append((envs.copy(), forecast.copy(), [a[:, :steps, 0].numpy() for a in alone]))
        set_forecast(forecast, envs)

    env.set_forecast = logged
    policy, level_obs = acting_policy(module).policy, env.observe()
    for _ in range(60 * len(env.LEVELS)):
        result = env.step(policy.act(env, level_obs))
        level_obs = result.next
        if result.cycle_end and feed.update(env):
            level_obs = env.observe()
    return env, feed, forwards


def test_one_batched_forward_serves_every_env_with_a_new_bin_once_half_have_one():
    env, feed, forwards = _fed_env(0.5)
    assert forwards, "no forward in 60 cycles"
    for envs, _, _ in forwards:
        assert len(envs) >= 0.5 * env.num_envs
    # Between forwards fewer than half have a new bin; none is ever skipped.
    assert ((env.demand_bins_closed > feed.seen).sum()) < 0.5 * env.num_envs
    assert (feed.seen <= env.demand_bins_closed).all()


def test_the_batched_forward_equals_one_forward_per_env():
    _, _, forwards = _fed_env(1.0)
    assert forwards, "no forward in 60 cycles"
    for envs, forecast, alone in forwards:
        assert len(envs) > 1
        for row in range(len(envs)):
            np.testing.assert_allclose(forecast[row], alone[row], rtol=1e-5, atol=1e-6)


def test_training_rows_are_taken_as_bins_close_not_only_at_forwards():
    # A fast env may close more bins between two forwards than its history keeps.
    env, feed, forwards = _fed_env(1.0, collect_rows=True)
    rows = feed.take_rows()
    horizon = feed.horizon
    # Every origin whose targets have closed has its rows, one per leaf group.
    expected = np.maximum(env.demand_bins_closed - horizon, 0).sum() * env.topology.num_leaves
    assert len(rows["obs"]) == expected
    assert 0 < len(forwards) < env.demand_bins_closed.max()  # far fewer forwards than bins


def test_a_checkpoint_from_before_the_batched_feed_feeds_each_env_at_once():
    module, _ = _module()
    forecaster = module["forecaster"]
    del forecaster.model_config["batch_share"]
    assert forecaster.batch_share == 0.0
