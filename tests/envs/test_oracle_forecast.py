"""The oracle forecast ablation: it sees the arrivals to come and the demand that then happens;
off by default, where the forecast slots stay the policy's (zeros without a forecaster)."""

import copy

import numpy as np
import pytest

from envs import VectorDatacenterEnv
from envs.heuristics import FirstFit

BIN_S = 10.0


def oracle_config(config: dict) -> dict:
    config = copy.deepcopy(config)
    config["knowledge"] = {"demand_forecast": "oracle", "oracle_bin_s": BIN_S}
    config["workload"]["arrival_rate_per_s"] = 0.3  # below capacity: no rejections
    return config


def run_first_fit(env: VectorDatacenterEnv, cycles: int, on_cycle=None) -> None:
    """Place `cycles` tasks per env with first-fit through the agents' steps (observations
    built, so the oracle refreshes as a policy would see it)."""
    policy = FirstFit()
    level_obs = env.observe()
    for _ in range(cycles * len(env.LEVELS)):
        if on_cycle is not None and level_obs.level == env.LEVELS[0]:
            on_cycle(env)
        level_obs = env.step(policy.act(env, level_obs)).next


def test_the_oracle_reads_ahead_the_arrivals_the_env_then_loads(small_config):
    env = VectorDatacenterEnv(oracle_config(small_config), num_envs=2, seed=3)
    oracle = env.oracle_forecast
    foreseen = oracle._read_ahead(0, float(env.now[0]), float(env.now[0]) + 600.0)["arrival_s"]
    loaded = []
    run_first_fit(env, 60, lambda e: loaded.append(float(e.pending["arrival_s"][0])))
    arrived = sorted(set(loaded))[1:]  # the first was pending (arrived) when the oracle began
    assert len(foreseen) > len(arrived) > 50
    np.testing.assert_allclose(foreseen[: len(arrived)], arrived)


def test_the_oracle_forecast_is_the_demand_that_then_happens(small_config):
    # Over the datacenter, the forecast first bin's requested CPU is what the history records
    # once that bin has passed (per leaf group it cannot be: later placements are undecided).
    env = VectorDatacenterEnv(oracle_config(small_config), num_envs=2, seed=1)
    env.record_demand(BIN_S, 500)
    capacity = env.topology.by_leaf(env.hosts.cpu_capacity).sum(-1)
    seen = []

    def remember(e):
        at_edge = (e.now - e.demand.bin_start_s) < 1.0  # a bin the history also starts here
        for b in np.flatnonzero(at_edge & (e.oracle_forecast.next_refresh_s == e.now + BIN_S)):
            seen.append((b, int(e.demand.closed[b]), (e.forecast[b, :, 0] * capacity[b]).sum()))

    run_first_fit(env, 500, remember)
    pairs = [
        (cpu, (env.demand.bins[b, i % 500, :, 0] * capacity[b]).sum())
        for b, i, cpu in seen
        if i < env.demand.closed[b]
    ]
    assert len(pairs) > 5
    foreseen, happened = np.array(pairs).T
    np.testing.assert_allclose(foreseen, happened, rtol=0.05)


def test_without_the_oracle_the_forecast_slots_stay_the_policys(small_config):
    env = VectorDatacenterEnv(small_config, num_envs=2, seed=1)
    assert env.oracle_forecast is None
    run_first_fit(env, 30)
    assert not env.forecast.any()
    oracle = VectorDatacenterEnv(oracle_config(small_config), num_envs=2, seed=1)
    run_first_fit(oracle, 30)
    assert (oracle.forecast > 0).all()


@pytest.mark.parametrize("knowledge", [{"demand_forecast": "psychic"}, {"oracle_bin_s": 0}])
def test_a_bad_oracle_setting_is_one_line(small_config, knowledge):
    from envs import EnvConfigError

    config = copy.deepcopy(small_config)
    config["knowledge"] = knowledge
    with pytest.raises(EnvConfigError, match="env.knowledge") as info:
        VectorDatacenterEnv(config, num_envs=1, seed=0)
    assert "\n" not in str(info.value)


def test_a_restored_oracle_reads_ahead_the_restored_arrivals(small_config):
    config = oracle_config(small_config)
    env = VectorDatacenterEnv(config, num_envs=2, seed=3)
    run_first_fit(env, 20)
    restored = VectorDatacenterEnv(config, num_envs=2, seed=9)
    restored.set_state(env.get_state())
    now = float(env.now[1])
    ahead = env.oracle_forecast._read_ahead(1, now, now + 300.0)
    np.testing.assert_array_equal(
        restored.oracle_forecast._read_ahead(1, now, now + 300.0)["arrival_s"],
        ahead["arrival_s"],
    )
    # Restored, it forecasts afresh: what the original's oracle says now.
    truth = env.oracle_forecast.leaf_demand(env, np.arange(2))
    np.testing.assert_allclose(restored.forecast, truth, rtol=1e-6)
