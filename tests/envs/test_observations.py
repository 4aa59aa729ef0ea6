"""The placement features tell every level where the pending task packs best and what it costs."""

import numpy as np
import pytest

from envs import HEURISTICS, VectorDatacenterEnv
from envs.hosts import OFF, ON
from envs.observations import GROUP_FEATURES, HOST_FEATURES, LOG_DURATION_SCALE
from tests.envs.test_vector_env import run_cycles

# Positions in the blocks (envs/observations.py docstring).
SAFE_SHARE, BEST_ALLOCATED_AFTER, LEAST_INCREASE = 10, 11, 12
HOST_HELD, HOST_ADDED, HOST_ENERGY = 11, 12, 13


def _cluster_blocks(env: VectorDatacenterEnv) -> np.ndarray:
    level_obs = env.observe()
    assert level_obs.level == "cluster"
    racks = env.topology.racks_per_cluster
    return level_obs.obs[:, : racks * GROUP_FEATURES].reshape(env.num_envs, racks, -1)


def _busy_env(config: dict) -> VectorDatacenterEnv:
    env = VectorDatacenterEnv(config, num_envs=8, seed=3)
    run_cycles(env, env.observe(), np.random.default_rng(0), cycles=40)
    return env


def test_the_cluster_sees_which_rack_holds_best_fits_host(synthetic_config):
    env = _busy_env(synthetic_config)
    blocks = _cluster_blocks(env)
    host = HEURISTICS["best-fit"]().choose_host(env)
    rack = env.topology.host_actions(host)[0]
    has = env.has_pending & env.feasible_hosts.any(axis=1)
    assert has.sum() >= 4
    best = blocks[:, :, BEST_ALLOCATED_AFTER]
    chosen = best[np.arange(env.num_envs), rack]
    np.testing.assert_allclose(chosen[has], best.max(axis=1)[has], rtol=1e-6)


def test_the_cluster_sees_which_rack_holds_pabfds_host(synthetic_config):
    env = _busy_env(synthetic_config)
    blocks = _cluster_blocks(env)
    host = HEURISTICS["pabfd"]().choose_host(env)
    rack = env.topology.host_actions(host)[0]
    # A rack with hosts the task would not overload shows the least increase among those, as
    # PABFD ranks them: PABFD's host is in the rack that shows the least.
    has_safe = blocks[:, :, SAFE_SHARE] > 0
    least = np.where(has_safe, blocks[:, :, LEAST_INCREASE], np.inf)
    safe = env.has_pending & has_safe.any(axis=1)
    assert safe.sum() >= 4
    chosen = least[np.arange(env.num_envs), rack]
    np.testing.assert_allclose(chosen[safe], least.min(axis=1)[safe], rtol=1e-6)


def _leaf_hosts(env: VectorDatacenterEnv) -> tuple[np.ndarray, np.ndarray]:
    """Step env 0's pending task to the leaf level of the first switched-on host's group; return
    that leaf observation's host blocks and the global host ids they describe."""
    top = env.topology
    host = int(np.flatnonzero(env.feasible_hosts[0] & (env.hosts.power_state[0] == ON))[0])
    cluster, rack, leaf = (int(a[0]) for a in top.host_actions(np.array([host])))
    for action in (cluster, rack):
        level_obs = env.step(np.array([action])).next
    assert level_obs.level == "leaf"
    hosts = top.by_leaf(np.arange(top.num_hosts)[None])[0, level_obs.agent_index[0]]
    blocks = level_obs.obs[0, : top.hosts_per_leaf * HOST_FEATURES].reshape(len(hosts), -1)
    return blocks, hosts


def test_a_host_reads_how_long_its_tasks_hold_it_on_and_what_a_task_adds(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=1, seed=0)
    until = env.commitments.until
    blocks, hosts = _leaf_hosts(env)
    # The run time a decision may assume (env.knowledge), never the true duration_s.
    now, duration = float(env.now[0]), float(env.pending["duration_est_s"][0])
    timeout = env.hosts.idle_timeout_s
    on = env.hosts.power_state[0, hosts] == ON
    held = np.where(on, np.maximum(until[0, hosts], now) - now, 0.0)
    np.testing.assert_allclose(
        blocks[:, HOST_HELD], np.log1p(held) / LOG_DURATION_SCALE, rtol=1e-5, atol=1e-6
    )
    feasible = env.feasible_hosts[0, hosts]
    boot = np.where(env.hosts.power_state[0, hosts] == OFF, env.hosts.boot_delay_s, 0.0)
    added = np.maximum(boot + duration + timeout - held, 0.0)
    expected = np.where(feasible, np.log1p(added) / LOG_DURATION_SCALE, 0.0)
    np.testing.assert_allclose(blocks[:, HOST_ADDED], expected, rtol=1e-5, atol=1e-6)


def test_a_task_that_ends_before_its_hosts_other_work_adds_no_time(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=1, seed=0)
    state = env.get_state()
    blocks, hosts = _leaf_hosts(env)
    on = np.flatnonzero((env.hosts.power_state[0, hosts] == ON) & env.feasible_hosts[0, hosts])
    first = hosts[on[0]]

    held = VectorDatacenterEnv(small_config, num_envs=1, seed=0)
    held.set_state(state)
    held.commitments.until[0, first] = float(held.now[0]) + 1e6
    held_blocks, _ = _leaf_hosts(held)
    assert held_blocks[on[0], HOST_ADDED] == 0.0
    assert held_blocks[on[0], HOST_ENERGY] < blocks[on[0], HOST_ENERGY]
    assert held_blocks[on[0], HOST_HELD] > blocks[on[0], HOST_HELD]


@pytest.mark.parametrize("level", ["cluster", "rack", "leaf"])
def test_observations_stay_finite(synthetic_config, level):
    env = _busy_env(synthetic_config)
    level_obs = env.observe()
    while level_obs.level != level:
        level_obs = env.step(np.argmax(level_obs.action_mask, axis=1)).next
    assert np.isfinite(level_obs.obs).all()
