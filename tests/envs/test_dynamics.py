"""Usage that varies over time, migrations off overloaded hosts, running totals, timeline."""

import copy

import numpy as np
import pytest

from envs import HEURISTICS, VectorDatacenterEnv
from envs.finishes import FinishQueue, ScanFinishes
from envs.hosts import ON, HostArrays
from envs.migration import migrate_overloaded
from envs.power import PowerModel
from envs.slots import SlotTable
from envs.vector_env import RUNNING_DTYPES
from marl_alloc.floor.settings.env import HostConfig, MigrationConfig
from tests.envs.conftest import random_actions


def run_policy(config, name="best-fit", num_envs=2, seed=3, cycles=None):
    env = VectorDatacenterEnv(config, num_envs=num_envs, seed=seed, continuing=cycles is not None)
    policy, count = HEURISTICS[name](seed=0), 0
    while not env.done.all() and (cycles is None or count < cycles):
        env.step_hosts(policy.hosts(env))
        count += 1
    return env


def running_usage(env, env_index=0):
    slots = np.flatnonzero(env.running.active[env_index])
    return slots, env.running["usage"][env_index, slots].copy()


def test_usage_varies_around_the_request_every_period(synthetic_config):
    env = VectorDatacenterEnv(synthetic_config, num_envs=2, seed=0)
    slots, before = running_usage(env)
    start = env.now[0]
    period = synthetic_config["usage"]["period_s"]
    policy = HEURISTICS["first-fit"](seed=0)
    while env.now[0] < start + period:
        env.step_hosts(policy.hosts(env))
    still = env.running.active[0, slots]
    after = env.running["usage"][0, slots]
    assert (after[still] != before[still]).mean() > 0.9  # redrawn at the period boundary
    r = env.running
    active = r.active
    mean = r["cpu"][active] * r["factor"][active]
    ratio = r["usage"][active].sum() / mean.sum()
    assert 0.85 < ratio < 1.15  # around the request times its mean factor
    # host usage is the sum of its tasks' current usage
    for b in range(2):
        s = np.flatnonzero(active[b])
        expected = np.bincount(r["host"][b, s], r["usage"][b, s], env.topology.num_hosts)
        np.testing.assert_allclose(env.hosts.cpu_usage[b], expected, rtol=1e-5, atol=1e-6)


def test_without_noise_usage_stays_at_the_mean(synthetic_config):
    synthetic_config["usage"] = {"sigma": 0.0, "period_s": 60.0}
    env = run_policy(synthetic_config, cycles=300)
    r = env.running
    active = r.active
    np.testing.assert_allclose(
        r["usage"][active], r["cpu"][active] * r["factor"][active], rtol=1e-6
    )


def overload_config(config: dict) -> dict:
    config = copy.deepcopy(config)
    config["workload"].update(usage_factor_mean=1.0, usage_factor_std=0.2, target_utilization=0.7)
    config["usage"] = {"sigma": 0.4, "period_s": 120.0}
    config["episode_tasks"] = 400
    return config


def test_overloaded_hosts_migrate_tasks_and_pdm_counts_them(synthetic_config):
    config = overload_config(synthetic_config)
    on = run_policy(config).metrics()
    config["migration"] = {"enabled": False}
    off = run_policy(config).metrics()
    assert (on["migrations"] > 0).all() and (off["migrations"] == 0).all()
    assert (on["pdm"] > 0).all() and (off["pdm"] == 0).all()
    np.testing.assert_allclose(on["slav"], on["slatah"] * on["pdm"])
    assert on["slatah"].mean() < off["slatah"].mean()


def tiny_cluster():
    """Three hosts (capacities 1, 1, 0.5): host 0 overloaded by three tasks."""
    hosts = HostArrays.empty(
        np.array([[1.0, 1.0, 0.5]]),
        np.array([[1.0, 1.0, 1.0]]),
        PowerModel((100.0, 200.0)),
        HostConfig(),
    )
    running = SlotTable(1, RUNNING_DTYPES, capacity=8)
    tasks = {  # host, cpu, mem, usage
        "host": np.array([0, 0, 0, 1, 2]),
        "cpu": np.array([0.4, 0.3, 0.3, 0.2, 0.1], np.float32),
        "mem": np.array([0.3, 0.1, 0.2, 0.1, 0.1], np.float32),
        "usage": np.array([0.45, 0.35, 0.3, 0.2, 0.1], np.float32),
    }
    env = np.zeros(5, np.int64)
    hosts.add_many(env, tasks["host"], tasks["cpu"], tasks["mem"], tasks["usage"])
    hosts.switch_on(hosts.num_tasks > 0)
    rows = {**tasks, "factor": np.ones(5, np.float32), "z": np.zeros(5, np.float32)}
    rows["end_s"] = np.full(5, 1e9)
    rows["est_end_s"] = np.full(5, 2e9)  # what decisions believe
    for name in ("run_s", "priority", "owner", "task_class", "usage_n", "usage_sum"):
        rows[name] = np.zeros(5, RUNNING_DTYPES[name])
    running.fill(env, rows)
    return hosts, running


def test_migration_takes_smallest_memory_first_to_the_least_power_increase():
    hosts, running = tiny_cluster()
    until = np.zeros((1, 3))
    config = MigrationConfig(overload_threshold=0.9, s_per_mem=100.0)
    moved, degraded = migrate_overloaded(hosts, running, 0, np.zeros(1), config, until)
    # host 0 uses 1.1 > 0.9: the 0.1-memory task (usage 0.35) leaves, and lands on host 1,
    # where it adds less power than on the half-size host 2
    assert moved == 1
    assert running["host"][0, 1] == 1 and running["host"][0, [0, 2]].tolist() == [0, 0]
    # 10% of its usage, capped at its 0.3 request, for 0.1 memory * 100 s
    assert degraded == pytest.approx(0.1 * 0.3 * 0.1 * 100.0, rel=1e-5)
    np.testing.assert_allclose(hosts.cpu_usage[0], [0.75, 0.55, 0.1], rtol=1e-6)
    assert hosts.num_tasks[0].tolist() == [2, 2, 1]
    # the target is now held on to the moved task's believed end
    assert until[0].tolist() == [0.0, 2e9 + hosts.idle_timeout_s, 0.0]


def test_running_totals_equal_a_full_recount(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=3, seed=1)
    rng, lo = np.random.default_rng(0), env.reset()
    for _ in range(3 * 400):
        lo = env.step(random_actions(rng, lo.action_mask)).next
    incremental = env.hosts.rates.copy()
    env.hosts.refresh_rows(np.arange(3))
    np.testing.assert_allclose(incremental, env.hosts.rates, rtol=1e-9, atol=1e-9)
    assert (env.hosts.power_state == ON).any()


@pytest.mark.parametrize("num_envs", [1, 2])
def test_step_hosts_equals_stepping_the_levels(small_config, num_envs):
    def run(fast: bool):
        env = VectorDatacenterEnv(small_config, num_envs=num_envs, seed=4, continuing=False)
        policy, lo, total = HEURISTICS["best-fit"](seed=0), env.observe(), 0.0
        while not env.done.all():
            if fast:
                reward, _ = env.step_hosts(policy.hosts(env))
                total += reward
            else:
                result = env.step(policy.act(env, lo))
                lo, total = result.next, total + result.reward
        return env.metrics(), total

    fast, fast_reward = run(True)
    slow, slow_reward = run(False)
    for key, value in slow.items():
        np.testing.assert_allclose(fast[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(fast_reward, slow_reward, rtol=1e-6)


def test_timeline_samples_every_period(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=1, seed=0, continuing=False)
    timeline = env.record_timeline(30.0)
    policy = HEURISTICS["worst-fit"](seed=0)
    while not env.done[0]:
        env.step_hosts(policy.hosts(env))
    series = timeline.series(0)
    assert len(series["t_s"]) >= 10
    assert np.all(np.diff(series["t_s"]) >= 30.0 - 1e-9)
    assert ((series["utilization"] >= 0) & (series["utilization"] <= 1)).all()
    # Hosts draw power while the tasks arrive; in the episode's tail they may all switch off.
    assert (series["power_kw"] >= 0).all() and series["power_kw"][0] > 0


def test_heap_and_scan_find_the_same_finished_tasks():
    rng = np.random.default_rng(0)
    running = SlotTable(3, {"end_s": np.dtype(np.float64)}, capacity=4)
    heap, scan = FinishQueue(3), ScanFinishes(3, running)
    now = np.zeros(3)
    for _ in range(50):
        envs = rng.permutation(3)[: rng.integers(1, 4)]
        end = now[envs] + rng.exponential(5.0, len(envs))
        slots = running.insert(envs, {"end_s": end})
        heap.push(envs, end, slots)
        scan.push(envs, end, slots)
        now += rng.exponential(2.0, 3)
        due = np.flatnonzero(heap.next_s <= now)
        np.testing.assert_array_equal(due, np.flatnonzero(scan.next_s <= now))
        a, b = heap.pop_due(due, now), scan.pop_due(due, now)
        assert sorted(zip(*a, strict=True)) == sorted(zip(*b, strict=True))
        running.remove(*a)
        np.testing.assert_array_equal(heap.next_s, scan.next_s)
