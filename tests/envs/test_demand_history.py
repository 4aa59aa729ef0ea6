"""The env's demand history: the features of forecasting/demand.py on the tasks the env ran."""

import copy

import numpy as np
import pytest

from envs import VectorDatacenterEnv
from envs.heuristics import FirstFit
from marl_alloc.forecasting.demand import Tasks, demand_series

RESOLUTION_S = 20.0


class TaskLog:
    """Every task that held a request in env `env` since `start`: group, cpu, mem, the time its
    request was added (placement) and removed (finish; inf while running)."""

    def __init__(self, sim: VectorDatacenterEnv, env: int):
        self.sim, self.env, self.rows, self.open = sim, env, [], {}
        run, hpl = sim.running, sim.topology.hosts_per_leaf
        for slot in np.flatnonzero(run.active[env]):  # warm start: running before the history
            self._start(int(slot), -np.inf, run["host"][env, slot] // hpl, run, env)
        insert, remove = run.insert, run.remove
        insert_one, remove_one = run.insert_one, run.remove_one

        def logged_insert(envs, values):
            slots = insert(envs, values)
            for e, s in zip(np.asarray(envs).tolist(), np.asarray(slots).tolist(), strict=True):
                self._start(s, sim.now[e], run["host"][e, s] // hpl, run, e)
            return slots

        def logged_insert_one(e, values):
            s = insert_one(e, values)
            self._start(s, sim.now[e], run["host"][e, s] // hpl, run, e)
            return s

        def logged_remove(envs, slots):
            for e, s in zip(np.asarray(envs).tolist(), np.asarray(slots).tolist(), strict=True):
                self._end(e, s)
            remove(envs, slots)

        def logged_remove_one(e, s):
            self._end(e, s)
            remove_one(e, s)

        run.insert, run.remove = logged_insert, logged_remove
        run.insert_one, run.remove_one = logged_insert_one, logged_remove_one

    def _start(self, slot, t, group, run, env):
        if env == self.env:
            self.open[slot] = [t, np.inf, float(run["cpu"][env, slot]),
                               float(run["mem"][env, slot]), int(group)]  # fmt: skip

    def _end(self, env, slot):
        if env == self.env:
            row = self.open.pop(slot)
            row[1] = float(self.sim.now[env])
            self.rows.append(row)

    def tasks(self) -> Tasks:
        rows = np.array(self.rows + list(self.open.values()), np.float64)
        start = np.where(np.isinf(rows[:, 0]), -1e9, rows[:, 0])
        # Warm-start tasks arrived before the history: their submit lies outside every bin.
        return Tasks(start, start, rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4].astype(int))


def _run(config: dict, num_envs: int, cycles: int, env_index: int):
    config = copy.deepcopy(config)
    config["migration"]["enabled"] = False  # demand.py knows no migrations
    sim = VectorDatacenterEnv(config, num_envs=num_envs, seed=3, continuing=True)
    t0 = sim.now[env_index]
    sim.record_demand(RESOLUTION_S, keep_bins=10_000)
    log = TaskLog(sim, env_index)
    policy = FirstFit(seed=0)
    for _ in range(cycles):
        sim.step_hosts(policy.hosts(sim))
    return sim, log, t0


@pytest.mark.parametrize("num_envs", [1, 3])
def test_history_features_match_forecasting_demand_series(synthetic_config, num_envs):
    env_index = num_envs - 1
    sim, log, t0 = _run(synthetic_config, num_envs, 600, env_index)
    top = sim.topology
    cpu_cap = top.by_leaf(sim.hosts.cpu_capacity)[env_index].sum(-1)
    mem_cap = top.by_leaf(sim.hosts.mem_capacity)[env_index].sum(-1)
    expected = demand_series(log.tasks(), RESOLUTION_S, cpu_cap, mem_cap, "env", t0=t0).values
    closed = int(sim.demand_bins_closed[env_index])
    assert closed >= 10
    n = min(closed, len(expected))
    got = sim.demand_window(n, envs=[env_index], end=[n])[0]  # [leaves, n, 6]
    want = expected[:n, : top.num_leaves].transpose(1, 0, 2)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert got[..., 0].mean() > 0.05 and got[..., 2].sum() > 0 and got[..., 3].sum() > 0


def test_level_by_level_steps_record_the_same_history_as_step_hosts(small_config):
    runs = []
    for level_by_level in (False, True):
        sim = VectorDatacenterEnv(small_config, num_envs=2, seed=5, continuing=True)
        sim.record_demand(RESOLUTION_S, keep_bins=64)
        policy = FirstFit(seed=0)
        for _ in range(150):
            hosts = policy.hosts(sim)
            if not level_by_level:
                sim.step_hosts(hosts)
                continue
            actions = sim.topology.host_actions(np.maximum(hosts, 0))
            for level, action in zip(sim.LEVELS, actions, strict=True):
                defer = (hosts < 0) & (level == "cluster")
                sim.step(np.where(defer, sim.topology.racks_per_cluster, action))
        runs.append(sim.demand_window(8))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-6)


def test_bins_close_as_time_passes_and_restart_at_reset(small_config):
    sim = VectorDatacenterEnv(small_config, num_envs=2, seed=1, continuing=True)
    sim.record_demand(RESOLUTION_S, keep_bins=4)
    start = sim.now.copy()
    policy = FirstFit(seed=0)
    for _ in range(200):
        sim.step_hosts(policy.hosts(sim))
        expected = np.floor((sim.now - start) / RESOLUTION_S).astype(int)
        np.testing.assert_array_equal(sim.demand_bins_closed, expected)
    window = sim.demand_window(3)
    assert window.shape == (2, sim.topology.num_leaves, 3, 6)
    with pytest.raises(ValueError, match="not held"):
        sim.demand_window(6)  # more than the 4 bins kept
    closed = sim.demand_bins_closed.copy()
    sim.reset()  # a new history from the reset time (then time moved to the first arrival)
    assert (sim.demand_bins_closed < closed).all()
    assert (sim.now - sim.demand.bin_start_s < RESOLUTION_S).all()


def test_windows_before_the_first_bin_repeat_it(small_config):
    sim = VectorDatacenterEnv(small_config, num_envs=1, seed=2, continuing=True)
    sim.record_demand(RESOLUTION_S, keep_bins=16)
    policy = FirstFit(seed=0)
    while sim.demand_bins_closed[0] < 2:
        sim.step_hosts(policy.hosts(sim))
    window = sim.demand_window(5, end=[2])[0]
    np.testing.assert_array_equal(window[:, :4], np.repeat(window[:, :1], 4, axis=1))


def test_set_forecast_reaches_the_current_observation(small_config):
    sim = VectorDatacenterEnv(small_config, num_envs=2, seed=0, continuing=True)
    before = sim.observe().obs.copy()
    horizon = sim.config.forecast_horizon
    forecast = np.arange(sim.topology.num_leaves * horizon, dtype=np.float32)
    sim.set_forecast(forecast.reshape(1, -1, horizon), envs=[1])
    after = sim.observe().obs
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.allclose(after[1, -horizon:], before[1, -horizon:])
    assert (sim.forecast[0] == 0).all()
