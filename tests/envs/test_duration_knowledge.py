"""What a decision may know of run times: the estimate, from finished tasks only, everywhere."""

import copy

import numpy as np
import pytest

from envs import VectorDatacenterEnv, make_heuristic


def knowing(config: dict, durations: str) -> dict:
    config = copy.deepcopy(config)
    config["knowledge"]["durations"] = durations
    return config


def stepped_env(config: dict, cycles: int = 30) -> VectorDatacenterEnv:
    env = VectorDatacenterEnv(config, num_envs=2, seed=0, continuing=True)
    policy = make_heuristic("first-fit")
    for _ in range(cycles):
        env.step_hosts(policy.hosts(env))
    return env


def stretch_running(env: VectorDatacenterEnv, t: np.ndarray, factor: float) -> None:
    """Running tasks that will not have finished by t[env] run `factor` times as long after t."""
    run = env.running
    late = run.active & (run["end_s"] > t[:, None])
    stretched_end = t[:, None] + factor * (run["end_s"] - t[:, None])
    run["run_s"][late] += (stretched_end - run["end_s"])[late].astype(np.float32)
    run["end_s"][late] = stretched_end[late]
    env.finishes.rebuild(run)


def stretch_pending(env: VectorDatacenterEnv, t: np.ndarray, factor: float) -> None:
    """Pending tasks that cannot have finished by t[env] run `factor` times as long after t."""
    now, d = env.now, env.pending["duration_s"]
    env.pending["duration_s"] = np.where(now + d > t, (t - now) + factor * (now + d - t), d)
    env._level_obs = None


@pytest.mark.parametrize("durations", ["estimate", "none"])
def test_no_decision_reads_a_run_time_that_has_not_ended(small_config, durations):
    config = knowing(small_config, durations)
    env = stepped_env(config)
    twin = VectorDatacenterEnv(config, num_envs=2, seed=0, continuing=True)
    twin.set_state(env.get_state())
    t = env.now + 600.0
    stretch_running(twin, t, 10.0)
    policy, compared = make_heuristic("first-fit"), 0
    # Up to t both saw the same finishes: every estimate, observation and duration-aware choice
    # made by then must agree, however long the unfinished tasks turn out to run.
    while (env.now <= t).all():
        stretch_pending(twin, t, 10.0)
        for name in ("duration_est_s", "duration_unc"):
            np.testing.assert_array_equal(env.pending[name], twin.pending[name])
        np.testing.assert_array_equal(env.observe().obs, twin.observe().obs)
        lifetime = make_heuristic("lifetime-pabfd")
        np.testing.assert_array_equal(lifetime.choose_host(env), lifetime.choose_host(twin))
        hosts = policy.hosts(env)
        np.testing.assert_array_equal(env.step_hosts(hosts)[0], twin.step_hosts(hosts)[0])
        compared += 1
    assert compared >= 20


def test_the_oracle_ablation_does_see_true_run_times(small_config):
    env = stepped_env(knowing(small_config, "oracle"))
    obs = env.observe().obs.copy()
    env.pending["duration_s"] *= 10.0
    env.knowledge.believe_pending(env.pending, np.arange(env.num_envs))
    env._level_obs = None
    assert not np.array_equal(obs, env.observe().obs)


def test_without_knowledge_no_run_time_is_assumed(small_config):
    env = stepped_env(knowing(small_config, "none"))
    assert (env.pending["duration_est_s"] == 0).all()
    assert (env.pending["duration_unc"] == 0).all()


@pytest.mark.slow
def test_estimates_learn_the_run_times_of_finished_tasks(synthetic_config):
    env = VectorDatacenterEnv(synthetic_config, num_envs=2, seed=1, continuing=True)
    cold = env.pending["duration_unc"].copy()
    policy = make_heuristic("best-fit")
    for _ in range(8000):
        env.step_hosts(policy.hosts(env))
    w = env.config.workload
    # Synthetic run times are lognormal: median = mean * exp(-sigma^2 / 2), spread sigma. The
    # first hour's finishes are the short runs (the long ones have not ended yet), so the
    # estimate approaches the median from below.
    median = w.duration_mean_s * np.exp(-0.5 * w.duration_sigma**2)
    np.testing.assert_allclose(env.pending["duration_est_s"], median, rtol=0.25)
    np.testing.assert_allclose(env.pending["duration_unc"], w.duration_sigma, rtol=0.25)
    assert (cold == env.config.knowledge.prior_sigma).all()


def test_an_episode_starts_with_no_history(small_config):
    env = stepped_env(small_config, cycles=200)
    learned = env.knowledge.get_state()["levels"][0]["keys"].size
    env.reset()
    assert learned > 0
    assert env.knowledge.get_state()["levels"][0]["keys"].size == 0
