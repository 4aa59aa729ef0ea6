import numpy as np
import pytest

from envs import VectorDatacenterEnv
from envs.dynamics import J_PER_KWH
from envs.hosts import ON
from tests.envs.conftest import random_actions
from tests.envs.test_vector_env import run_cycles


def committing_env(config: dict, num_envs: int = 2) -> VectorDatacenterEnv:
    config["reward"]["w_commit"] = 1.0
    return VectorDatacenterEnv(config, num_envs=num_envs, seed=0, continuing=True)


@pytest.mark.parametrize("num_envs", [1, 2])
def test_a_placement_pays_for_the_idle_time_it_commits_its_host_to(small_config, num_envs):
    env = committing_env(small_config, num_envs)
    state = env.get_state()
    host = int(np.flatnonzero(env.feasible_hosts[0] & (env.hosts.power_state[0] == ON))[0])
    hosts = np.full(num_envs, host)
    hosts[1:] = np.argmax(env.feasible_hosts[1:], axis=1)
    # The charge is on the run time decisions believe (env.knowledge), not the true one.
    duration = float(env.pending["duration_est_s"][0])
    assert duration != pytest.approx(float(env.pending["duration_s"][0]))
    price = env.commit_price(np.zeros(1, np.int64))[0]
    # Free to switch off now: the task keeps it on for its run plus the idle timeout.
    env.commitments.until[0, host] = env.now[0] - 1.0
    free_reward, _ = env.step_hosts(hosts)
    held = committing_env(small_config, num_envs)
    held.set_state(state)
    # Already kept on beyond the task's end by other work: nothing more is committed.
    held.commitments.until[0, host] = held.now[0] + 1e9
    held_reward, _ = held.step_hosts(hosts)

    kwh = (duration + env.hosts.idle_timeout_s) * env.hosts.power.idle_watts / J_PER_KWH
    assert held_reward[0] - free_reward[0] == pytest.approx(price * kwh, rel=1e-5)
    np.testing.assert_array_equal(held_reward[1:], free_reward[1:])


def test_commitments_cover_every_running_task(small_config):
    small_config["migration"] = {"enabled": False}
    env = committing_env(small_config, num_envs=3)
    run_cycles(env, env.observe(), np.random.default_rng(1), 400)
    run = env.running
    envs, slots = np.nonzero(run.active)
    hosts = run["host"][envs, slots]
    ends = run["est_end_s"][envs, slots] + env.hosts.idle_timeout_s
    assert envs.size > 0
    assert (env.commitments.until[envs, hosts] >= ends - 1e-6).all()


@pytest.mark.parametrize("continuing", [True, False])
def test_finite_episodes_and_a_zero_weight_charge_nothing(small_config, continuing):
    # Commitments are kept in every env (the observations show them); only a training stream
    # with w_commit > 0 pays for them.
    def placement_rewards(w_commit: float) -> np.ndarray:
        config = {**small_config, "reward": {**small_config["reward"], "w_commit": w_commit}}
        env = VectorDatacenterEnv(config, num_envs=2, seed=0, continuing=continuing)
        rewards = [env.step_hosts(np.argmax(env.feasible_hosts, axis=1))[0] for _ in range(20)]
        assert (env.commitments.until > env.now[:, None]).any()
        return np.array(rewards)

    charged = placement_rewards(1.0)
    free = placement_rewards(0.0)
    if continuing:
        assert (charged < free).any()
    else:
        np.testing.assert_array_equal(charged, free)


def test_commitments_survive_a_state_round_trip(small_config):
    env = committing_env(small_config)
    rng = np.random.default_rng(2)
    lo, _ = run_cycles(env, env.observe(), rng, 50)
    other = committing_env(small_config)
    other.set_state(env.get_state())
    np.testing.assert_array_equal(other.commitments.until, env.commitments.until)
    actions = random_actions(np.random.default_rng(3), lo.action_mask)
    np.testing.assert_array_equal(env.step(actions).reward, other.step(actions).reward)
