import numpy as np
import pytest

from envs import HEURISTICS, VectorDatacenterEnv


def run_episode(config, name, num_envs=2, seed=11, fast=False):
    env = VectorDatacenterEnv(config, num_envs=num_envs, seed=seed, continuing=False)
    policy = HEURISTICS[name](seed=0)
    level_obs, total = env.reset(), np.zeros(num_envs)
    while fast:  # the whole cycle in one call (tested equal to level stepping)
        reward, done = env.step_hosts(policy.hosts(env))
        total += reward
        if done.all():
            return env.metrics(), total
    while True:
        actions = policy.act(env, level_obs)
        assert actions.shape == (num_envs,)
        active = level_obs.active
        assert level_obs.action_mask[np.flatnonzero(active), actions[active]].all()
        result = env.step(actions)
        level_obs, total = result.next, total + result.reward
        if result.done.all():
            return env.metrics(), total


def test_the_registry_names_every_baseline():
    assert set(HEURISTICS) == {
        "random",
        "round-robin",
        "first-fit",
        "best-fit",
        "worst-fit",
        "pabfd",
    }


@pytest.mark.parametrize("name", sorted(HEURISTICS))
def test_heuristics_only_choose_allowed_actions_and_never_defer(small_config, name):
    metrics, _ = run_episode(small_config, name)
    assert (metrics["tasks_total"] == small_config["episode_tasks"]).all()
    assert (metrics["tasks_deferred"] == 0).all()


def test_best_fit_packs_worst_fit_spreads(synthetic_config):
    synthetic_config["episode_tasks"] = 600
    best, _ = run_episode(synthetic_config, "best-fit", fast=True)
    worst, _ = run_episode(synthetic_config, "worst-fit", fast=True)
    assert best["energy_kwh"].sum() < 0.85 * worst["energy_kwh"].sum()
    assert best["sla_violation_rate"].mean() > 3 * worst["sla_violation_rate"].mean()
    assert best["mean_utilization"].mean() > worst["mean_utilization"].mean()


def test_pabfd_saves_energy_without_best_fits_overloads(synthetic_config):
    synthetic_config["episode_tasks"] = 600
    pabfd, pabfd_reward = run_episode(synthetic_config, "pabfd", fast=True)
    best, best_reward = run_episode(synthetic_config, "best-fit", fast=True)
    worst, _ = run_episode(synthetic_config, "worst-fit", fast=True)
    assert pabfd["energy_kwh"].sum() < worst["energy_kwh"].sum()
    assert pabfd["sla_violation_rate"].mean() < best["sla_violation_rate"].mean()
    assert pabfd_reward.sum() > best_reward.sum()
