import copy

import numpy as np
import pytest

from envs import HEURISTICS, PolicySpecError, VectorDatacenterEnv, make_heuristic, parse_heuristic
from envs.hosts import ON


def run_episode(config, name, num_envs=2, seed=11, fast=False):
    env = VectorDatacenterEnv(config, num_envs=num_envs, seed=seed, continuing=False)
    policy = make_heuristic(name, seed=0)
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
        "lifetime-pabfd",
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


def test_lifetime_pabfd_saves_the_idle_time_pabfd_leaves_on(synthetic_config):
    # Synthetic run times are drawn independently of everything a scheduler knows, so only
    # the oracle (the ablation) tells lifetime-PABFD which tasks end early.
    synthetic_config["knowledge"]["durations"] = "oracle"
    synthetic_config["episode_tasks"] = 600
    lifetime, lifetime_reward = run_episode(synthetic_config, "lifetime-pabfd", fast=True)
    pabfd, pabfd_reward = run_episode(synthetic_config, "pabfd", fast=True)
    # Tasks go where other work holds the host on anyway, so hosts empty out and switch off.
    assert lifetime["active_hosts_mean"].mean() < 0.95 * pabfd["active_hosts_mean"].mean()
    assert lifetime["energy_kwh"].sum() < 0.95 * pabfd["energy_kwh"].sum()
    assert lifetime_reward.sum() > pabfd_reward.sum()


def test_lifetime_pabfd_prefers_a_host_its_task_does_not_hold_on_longer(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=1, seed=0)
    policy = HEURISTICS["lifetime-pabfd"]()
    h = env.hosts
    on = env.feasible_hosts[0] & (h.power_state[0] == ON)
    on &= h.cpu_usage[0] + env.pending["cpu"][0] < h.cpu_capacity[0]  # safe at any usage factor
    a, b = np.flatnonzero(on)[:2]
    now = float(env.now[0])
    # The host whose own work outlasts the task costs it no idle time; the other would stay on
    # for the task's run and the idle timeout after it.
    for held, free in ((a, b), (b, a)):
        env.commitments.until[0, held] = now + 1e6
        env.commitments.until[0, free] = now
        env.commitments.until[0, np.flatnonzero(on)[2:]] = now
        assert int(policy.choose_host(env)[0]) == held


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("best-fit", ("best-fit", None)),
        ("pabfd@2.0", ("pabfd", 2.0)),
        (" first-fit@1 ", ("first-fit", 1.0)),
    ],
)
def test_a_heuristic_is_named_with_an_optional_packing_target(spec, parsed):
    assert parse_heuristic(spec) == parsed


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("nope", "unknown policy 'nope'"),
        ("best-fit@", "packing target in 'best-fit@'"),
        ("best-fit@lots", "packing target in 'best-fit@lots'"),
        ("best-fit@0", "positive"),
        ("pabfd@inf", "positive"),
        ("random@2", "takes no packing target"),
    ],
)
def test_bad_heuristic_specs_fail_with_one_line(spec, fragment):
    with pytest.raises(PolicySpecError, match=fragment) as info:
        make_heuristic(spec)
    assert "\n" not in str(info.value)


def overcommitting(config: dict) -> dict:
    config = copy.deepcopy(config)
    config["hosts"].update(cpu_overcommit=1.0, cpu_overcommit_max=3.0)
    config["episode_tasks"] = 400
    return config


def test_a_heuristic_packs_cpu_requests_up_to_its_target_while_hosts_allow_more(synthetic_config):
    env = VectorDatacenterEnv(
        overcommitting(synthetic_config), num_envs=2, seed=4, continuing=False
    )
    policy = make_heuristic("best-fit@1.2")
    h = env.hosts
    while not env.done.all():
        hosts = policy.hosts(env)
        rows = np.flatnonzero(hosts >= 0)
        room = h.cpu_capacity * 1.2 + 1e-6 - h.cpu_requested >= env.pending["cpu"][:, None]
        within = (env.feasible_hosts & room).any(axis=1)
        after = h.cpu_requested[rows, hosts[rows]] + env.pending["cpu"][rows]
        ok = after <= 1.2 * h.cpu_capacity[rows, hosts[rows]] + 1e-5
        # Within the target wherever a host allows it; beyond (up to the cap) only where none does.
        assert (ok | ~within[rows]).all()
        env.step_hosts(hosts)
    assert (h.cpu_requested <= 3.0 * h.cpu_capacity + 1e-5).all()


@pytest.mark.slow
def test_a_higher_packing_target_trades_sla_for_energy(synthetic_config):
    config = overcommitting(synthetic_config)
    config["episode_tasks"] = 2000
    loose, _ = run_episode(config, "best-fit@1.0", fast=True)
    tight, _ = run_episode(config, "best-fit@2.0", fast=True)
    assert tight["active_hosts_mean"].mean() < 0.97 * loose["active_hosts_mean"].mean()
    assert tight["energy_kwh"].sum() < 0.97 * loose["energy_kwh"].sum()
    assert tight["slatah"].mean() > 2 * loose["slatah"].mean()
