import numpy as np
import pytest

from envs import LEVELS, InvalidActionError, VectorDatacenterEnv
from tests.envs.conftest import random_actions


def run_cycles(env, level_obs, rng, cycles):
    rewards = []
    for _ in range(cycles * len(LEVELS)):
        result = env.step(random_actions(rng, level_obs.action_mask))
        level_obs = result.next
        if result.cycle_end:
            rewards.append(result.reward)
    return level_obs, np.array(rewards)


def test_spaces_of_the_default_topology(synthetic_config):
    env = VectorDatacenterEnv(synthetic_config, num_envs=2, seed=0)
    assert env.num_actions == {"cluster": 4, "rack": 4, "leaf": 16}
    horizon = synthetic_config["forecast_horizon"]
    assert env.obs_dims == {
        "cluster": 3 * 14 + 10 + horizon,
        "rack": 4 * 14 + 10 + horizon,
        "leaf": 16 * 14 + 10 + horizon,
    }
    assert env.agent_ids[:5] == ["cluster_0", "rack_0", "rack_1", "rack_2", "leaf_0"]
    assert len(env.agent_ids) == 16


def test_levels_cycle_with_declared_shapes(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=3, seed=0)
    rng = np.random.default_rng(0)
    level_obs = env.reset()
    for step in range(12):
        level = LEVELS[step % 3]
        assert level_obs.level == level
        assert level_obs.obs.shape == (3, env.obs_dims[level])
        assert level_obs.obs.dtype == np.float32 and np.isfinite(level_obs.obs).all()
        assert level_obs.action_mask.shape == (3, env.num_actions[level])
        assert level_obs.action_mask.any(axis=1).all()
        result = env.step(random_actions(rng, level_obs.action_mask))
        assert result.cycle_end == (level == "leaf")
        if not result.cycle_end:
            assert (result.reward == 0).all()
        level_obs = result.next


def test_agent_index_points_into_the_chosen_rack_and_leaf(synthetic_config):
    env = VectorDatacenterEnv(synthetic_config, num_envs=4, seed=1)
    lo = env.reset()
    actions = np.argmax(lo.action_mask[:, :-1], axis=1)
    lo = env.step(actions).next
    np.testing.assert_array_equal(lo.agent_index[lo.active], actions[lo.active])
    leaf_actions = np.argmax(lo.action_mask, axis=1)
    lo = env.step(leaf_actions).next
    expected = actions * 4 + leaf_actions
    np.testing.assert_array_equal(lo.agent_index[lo.active], expected[lo.active])


def test_masked_action_is_refused(synthetic_config):
    synthetic_config["workload"]["deferrable_fraction"] = 0.0
    env = VectorDatacenterEnv(synthetic_config, num_envs=2, seed=0)
    lo = env.reset()
    assert not lo.action_mask[:, -1].any()
    bad = np.full(2, env.num_actions["cluster"] - 1)
    with pytest.raises(InvalidActionError, match="masked out"):
        env.step(bad)
    with pytest.raises(InvalidActionError):
        env.step(np.full(2, 99))


def test_same_seed_same_trajectory(small_config):
    def trajectory(seed):
        env = VectorDatacenterEnv(small_config, num_envs=2, seed=seed)
        lo, rewards = run_cycles(env, env.reset(), np.random.default_rng(7), 40)
        return lo.obs, rewards, env.metrics()

    a, b, c = trajectory(3), trajectory(3), trajectory(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # reset(seed) reproduces a fresh env with that seed
    env = VectorDatacenterEnv(small_config, num_envs=2, seed=99)
    lo, rewards = run_cycles(env, env.reset(seed=3), np.random.default_rng(7), 40)
    np.testing.assert_array_equal(rewards, a[1])


def test_get_state_resumes_exactly(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=2, seed=5)
    lo, _ = run_cycles(env, env.reset(), np.random.default_rng(1), 30)
    env.step(random_actions(np.random.default_rng(2), lo.action_mask))  # mid-cycle
    state = env.get_state()
    after_a, rewards_a = run_cycles(env, env._obs, np.random.default_rng(3), 60)
    other = VectorDatacenterEnv(small_config, num_envs=2, seed=0)
    other.set_state(state)
    after_b, rewards_b = run_cycles(other, other._obs, np.random.default_rng(3), 60)
    np.testing.assert_array_equal(rewards_a, rewards_b)
    np.testing.assert_array_equal(after_a.obs, after_b.obs)
    for key, value in env.metrics().items():
        np.testing.assert_array_equal(value, other.metrics()[key], err_msg=key)


def test_continuing_streams_never_finish(small_config):
    small_config["episode_tasks"] = 5
    env = VectorDatacenterEnv(small_config, num_envs=2, seed=0, continuing=True)
    lo = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(3 * 300):
        result = env.step(random_actions(rng, lo.action_mask))
        assert not result.done.any()
        lo = result.next
    assert (env.metrics()["tasks_total"] > 5).all()


def test_finite_episode_ends_after_its_tasks(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=3, seed=0, continuing=False)
    lo, rng = env.reset(), np.random.default_rng(0)
    for _ in range(3 * 2000):
        result = env.step(random_actions(rng, lo.action_mask))
        lo = result.next
        if result.done.all():
            break
    assert result.done.all() and result.cycle_end
    metrics = env.metrics()
    assert (metrics["tasks_total"] == small_config["episode_tasks"]).all()
    assert (metrics["tasks_pending"] == 0).all() and (metrics["tasks_deferred"] == 0).all()
    assert not lo.active.any()


def test_deferral_skips_rack_and_leaf(synthetic_config):
    synthetic_config["workload"]["deferrable_fraction"] = 1.0
    env = VectorDatacenterEnv(synthetic_config, num_envs=4, seed=0)
    lo = env.reset()
    assert lo.action_mask[:, -1].all()
    lo = env.step(np.full(4, env.num_actions["cluster"] - 1)).next
    assert lo.level == "rack" and not lo.active.any() and lo.action_mask.all()
    lo = env.step(np.zeros(4, np.int64)).next
    assert lo.level == "leaf" and not lo.active.any()
    result = env.step(np.zeros(4, np.int64))
    metrics = env.metrics()
    assert (metrics["tasks_deferred"] == 1).all() and (metrics["deferrals"] == 1).all()
    assert (metrics["tasks_placed"] == 0).all()
    assert result.cycle_end


def test_a_deferral_is_charged_in_its_own_cycle(synthetic_config):
    synthetic_config["workload"]["deferrable_fraction"] = 1.0
    weights = ("w_sla", "w_energy", "w_carbon", "w_reject", "w_wait", "w_migration")
    synthetic_config["reward"] = {**{w: 0.0 for w in weights}, "w_defer": 0.7}
    env = VectorDatacenterEnv(synthetic_config, num_envs=2, seed=0)
    env.reset()
    env.step(np.array([env.num_actions["cluster"] - 1, 0]))  # env 0 defers, env 1 places
    env.step(np.zeros(2, np.int64))
    lo = env.observe()
    result = env.step(np.argmax(lo.action_mask, axis=1))
    np.testing.assert_allclose(result.reward, [-0.7, 0.0])


def test_infeasible_task_is_rejected_with_a_penalty(small_config):
    small_config["workload"]["deferrable_fraction"] = 0.0
    small_config["hosts"]["cpu_capacity_choices"] = [0.1]
    small_config["workload"]["max_request"] = 0.5
    small_config["workload"]["cpu_request_mean"] = 0.3
    small_config["workload"]["target_utilization"] = 0.0
    env = VectorDatacenterEnv(small_config, num_envs=2, seed=0)
    lo, rewards = run_cycles(env, env.reset(), np.random.default_rng(0), 20)
    metrics = env.metrics()
    assert (metrics["tasks_rejected"] > 0).all()
    assert rewards.min() <= -small_config["reward"]["w_reject"]


def test_reward_is_minus_the_weighted_costs(small_config):
    small_config["reward"] = {
        "w_sla": 0,
        "w_energy": 1.0,
        "w_carbon": 0,
        "w_reject": 0,
        "w_wait": 0,
        "w_migration": 0,
        "w_defer": 0,
        "w_commit": 0,
    }
    env = VectorDatacenterEnv(small_config, num_envs=2, seed=0)
    lo = env.reset()
    energy_before = env.metrics()["energy_kwh"]
    lo, rewards = run_cycles(env, lo, np.random.default_rng(0), 25)
    spent = env.metrics()["energy_kwh"] - energy_before
    np.testing.assert_allclose(-rewards.sum(axis=0), spent, rtol=1e-4)
    assert (rewards < 0).any()


def test_reset_metrics_keeps_tasks_in_flight(small_config):
    small_config["workload"]["deferrable_fraction"] = 1.0
    env = VectorDatacenterEnv(small_config, num_envs=2, seed=0)
    assert env.reset().action_mask[:, -1].all()
    env.step(np.full(2, env.num_actions["cluster"] - 1))
    env.step(np.zeros(2, np.int64))
    env.step(np.zeros(2, np.int64))
    env.reset_metrics()
    m = env.metrics()
    assert (m["tasks_total"] == m["tasks_deferred"] + m["tasks_pending"]).all()
    assert (m["energy_kwh"] == 0).all()


def test_forecast_reaches_the_observation(synthetic_config):
    env = VectorDatacenterEnv(synthetic_config, num_envs=2, seed=0)
    horizon = synthetic_config["forecast_horizon"]
    env.set_forecast(np.full((2, env.topology.num_leaves, horizon), 0.25, np.float32))
    lo = env.step(np.argmax(env.reset().action_mask, axis=1)).next
    np.testing.assert_allclose(lo.obs[:, -horizon:], 0.25)


def run_first_fit(config: dict, defer: bool) -> VectorDatacenterEnv:
    """A finite episode placing on the first feasible host, deferring whenever allowed if asked."""
    env = VectorDatacenterEnv(config, num_envs=2, seed=4, continuing=False)
    while not env.done.all():
        hosts = np.argmax(env.feasible_hosts, axis=1)
        if defer:
            hosts = np.where(env._can_defer(), -1, hosts)
        env.step_hosts(hosts)
    return env


def test_finite_episodes_span_the_same_time_however_much_a_policy_defers(small_config):
    small_config["episode_tasks"] = 40
    small_config["workload"]["deferrable_fraction"] = 0.5
    placing, deferring = run_first_fit(small_config, False), run_first_fit(small_config, True)
    assert (deferring.metrics()["tasks_placed"] > 0).all()
    np.testing.assert_array_equal(placing.last_arrival_s, deferring.last_arrival_s)
    tail = small_config["max_defers"] * small_config["defer_delay_s"]
    np.testing.assert_allclose(placing.now, placing.last_arrival_s + tail)
    np.testing.assert_allclose(deferring.now, placing.now)


def test_episode_tail_zero_ends_at_the_last_decision(small_config):
    small_config["episode_tasks"] = 40
    small_config["workload"]["deferrable_fraction"] = 0.5
    small_config["episode_tail_s"] = 0.0
    placing = run_first_fit(small_config, False)
    np.testing.assert_allclose(placing.now, placing.last_arrival_s)
    # Without a tail, deferred work coming back lengthens the episode (what the tail prevents).
    assert (run_first_fit(small_config, True).now > placing.last_arrival_s).all()
