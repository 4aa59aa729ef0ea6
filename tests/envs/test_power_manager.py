"""The leaf groups' power decision (env.power.manager=forecast): it wakes hosts before the demand
its forecast expects arrives, keeps them on while the forecast holds, and leaves the rest to the
idle timer; `timeout` is the simulator without it."""

import copy

import numpy as np
import pytest

from envs import VectorDatacenterEnv, make_heuristic
from envs.hosts import BOOTING, OFF, ON
from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.settings.env import EnvConfig

BOOT_S, SLO_S, PERIOD_S = 260.0, 120.0, 60.0


def boot_config(config: dict, manager: str, **power) -> dict:
    """Minutes-long boots, an SLO a boot misses, and the given power manager."""
    config = copy.deepcopy(config)
    config["hosts"]["boot_delay_s"] = BOOT_S
    config["workload"]["slo_s"] = SLO_S
    config["power"] = {"manager": manager, "period_s": PERIOD_S, "headroom": 0.2, **power}
    return config


def place_for(env: VectorDatacenterEnv, seconds: float, policy=None) -> None:
    """Place pending tasks (PABFD by default) until every env's clock has run `seconds` on."""
    policy, until = policy or make_heuristic("pabfd"), env.now + seconds
    while (env.now < until).any() and not env.done.all():
        env.step_hosts(policy.hosts(env))


def leaf_zero(env: VectorDatacenterEnv) -> slice:
    return slice(0, env.topology.hosts_per_leaf)


def run_pabfd(config: dict, num_envs: int = 2, seed: int = 3) -> VectorDatacenterEnv:
    env = VectorDatacenterEnv(config, num_envs=num_envs, seed=seed, continuing=False)
    place_for(env, np.inf)
    return env


def test_timeout_is_the_simulator_without_a_power_decision(small_config):
    # A forecast manager whose first control boundary lies beyond the episode changes nothing:
    # under timeout (the default) every host is left to the idle timer, as before env.power.
    assert EnvConfig.from_mapping(small_config).power.manager == "timeout"
    timeout = run_pabfd(boot_config(small_config, "timeout"))
    idle_manager = run_pabfd(boot_config(small_config, "forecast", period_s=1e9))
    assert timeout.power_manager is None and not timeout.hosts.kept_on.any()
    for key, value in timeout.metrics().items():
        np.testing.assert_array_equal(value, idle_manager.metrics()[key], err_msg=key)


class OutsideLeafZero:
    """First-fit over the hosts outside leaf group 0 (all of them where none fits)."""

    def hosts(self, env: VectorDatacenterEnv) -> np.ndarray:
        allowed = env.feasible_hosts.copy()
        allowed[:, leaf_zero(env)] = False
        allowed = np.where(allowed.any(axis=1, keepdims=True), allowed, env.feasible_hosts)
        return np.where(allowed.any(axis=1), allowed.argmax(axis=1), -1)


def expect_leaf_zero_full(env: VectorDatacenterEnv) -> np.ndarray:
    """A forecast: leaf group 0 fully requested over the whole horizon, the others empty."""
    top = env.topology
    full = np.arange(top.num_leaves)[:, None] == 0
    return np.broadcast_to(full, (env.num_envs, top.num_leaves, env.config.forecast_horizon))


@pytest.mark.parametrize("manager", ["timeout", "forecast"])
def test_a_forecast_wakes_hosts_so_the_arriving_task_finds_one_on(small_config, manager):
    env = VectorDatacenterEnv(boot_config(small_config, manager), num_envs=1, seed=2)
    group = leaf_zero(env)
    env.set_forecast(expect_leaf_zero_full(env))
    off_before = env.hosts.power_state[0, group] == OFF
    assert off_before.any()
    place_for(env, PERIOD_S + BOOT_S + 1.0, OutsideLeafZero())
    state = env.hosts.power_state[0, group]
    woken = state[off_before] == ON
    assert woken.all() if manager == "forecast" else not woken.any()
    # The pending task goes to a host of leaf group 0 that was off when the demand was foreseen.
    host = int(np.flatnonzero(off_before & env.feasible_hosts[0, group])[0])
    now, misses = float(env.now[0]), int(env.metrics()["slo_violations"][0])
    env.step_hosts(np.array([host]))
    slot = np.flatnonzero(env.running.active[0] & (env.running["host"][0] == host))
    started = float((env.running["end_s"][0, slot] - env.running["run_s"][0, slot])[0])
    if manager == "forecast":  # woken ahead: the task starts at once, within its SLO
        assert started == pytest.approx(now)
        assert int(env.metrics()["slo_violations"][0]) == misses
    else:  # woken by the task: it waits for the boot and misses its SLO
        assert started == pytest.approx(now + BOOT_S)
        assert int(env.metrics()["slo_violations"][0]) == misses + 1


def test_kept_hosts_stay_on_and_idle_hosts_above_the_target_sleep(small_config):
    config = boot_config(small_config, "forecast")
    config["hosts"]["idle_timeout_s"] = 120.0
    env = VectorDatacenterEnv(config, num_envs=1, seed=2)
    group = leaf_zero(env)
    env.set_forecast(expect_leaf_zero_full(env))
    place_for(env, PERIOD_S + BOOT_S + 3 * 120.0, OutsideLeafZero())
    idle = env.hosts.num_tasks[0, group] == 0
    assert idle.any()
    # Empty for longer than the idle timeout, and still on: the forecast keeps them.
    assert (env.hosts.power_state[0, group][idle] == ON).all()
    env.set_forecast(np.zeros_like(env.forecast))
    place_for(env, PERIOD_S + 120.0 + 1.0, OutsideLeafZero())
    still_idle = idle & (env.hosts.num_tasks[0, group] == 0)
    assert still_idle.any()
    assert (env.hosts.power_state[0, group][still_idle] == OFF).all()


def test_with_the_oracle_forecast_pabfd_misses_fewer_slos(small_config):
    config = copy.deepcopy(small_config)
    config["workload"]["warm_start_hosts_on"] = 0.55
    config["workload"]["arrival_rate_per_s"] = 0.3
    config["episode_tasks"] = 200
    config["forecast_horizon"] = 9
    config["knowledge"] = {"demand_forecast": "oracle", "oracle_bin_s": 30.0}
    timeout = run_pabfd(boot_config(config, "timeout"), num_envs=4).metrics()
    forecast = run_pabfd(boot_config(config, "forecast"), num_envs=4).metrics()
    assert timeout["slo_violations"].sum() > 0
    assert forecast["slo_violations"].sum() < timeout["slo_violations"].sum()
    # Waking ahead costs booting and idle watts.
    assert forecast["energy_kwh"].sum() > timeout["energy_kwh"].sum()


@pytest.mark.parametrize("num_envs", [1, 3])
def test_the_fast_path_sees_the_same_power_decision(small_config, num_envs):
    config = boot_config(small_config, "forecast")
    config["knowledge"] = {"demand_forecast": "oracle", "oracle_bin_s": 30.0}

    def run(fast: bool):
        env = VectorDatacenterEnv(config, num_envs=num_envs, seed=4, continuing=False)
        policy, lo = make_heuristic("pabfd"), env.observe()
        while not env.done.all():
            if fast:
                env.step_hosts(policy.hosts(env))
            else:
                lo = env.step(policy.act(env, lo)).next
        return env.metrics()

    fast, slow = run(True), run(False)
    for key, value in slow.items():
        np.testing.assert_allclose(fast[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_a_resumed_env_keeps_its_power_decisions(small_config):
    config = boot_config(small_config, "forecast")
    config["knowledge"] = {"demand_forecast": "oracle", "oracle_bin_s": 30.0}
    env = VectorDatacenterEnv(config, num_envs=2, seed=5)
    place_for(env, 200.0)
    state = env.get_state()
    other = VectorDatacenterEnv(config, num_envs=2, seed=0)
    other.set_state(state)
    for e in (env, other):
        place_for(e, 900.0)
    assert (env.hosts.power_state == BOOTING).any() or env.hosts.kept_on.any()
    np.testing.assert_array_equal(env.hosts.kept_on, other.hosts.kept_on)
    for key, value in env.metrics().items():
        np.testing.assert_array_equal(value, other.metrics()[key], err_msg=key)


@pytest.mark.parametrize(
    "power, message",
    [
        ({"manager": "always_on"}, "env.power.manager must be one of timeout, forecast"),
        ({"period_s": 0}, "env.power.period_s must be > 0"),
        ({"headroom": -0.5}, "env.power.headroom must be >= 0"),
        ({"horizon": 3}, "env.power.horizon"),
    ],
)
def test_bad_power_settings_are_one_line_errors(small_config, power, message):
    config = copy.deepcopy(small_config)
    config["power"] = power
    with pytest.raises(ConfigError) as err:
        EnvConfig.from_mapping(config)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("boot_s", [30.0, BOOT_S])
def test_heuristics_keep_to_hosts_that_start_the_task_in_time(small_config, boot_s):
    # A scheduler places on ready nodes: where a boot outlasts the SLO, a host that is off is a
    # candidate only when no host that is on can take the task.
    config = boot_config(small_config, "timeout")
    config["hosts"]["boot_delay_s"] = boot_s
    env = VectorDatacenterEnv(config, num_envs=4, seed=1)
    urgent = ~env.pending["deferrable"]  # a deferrable task's deadline is hours away
    candidates = make_heuristic("pabfd").candidates(env)[urgent]
    on, feasible = env.hosts.power_state[urgent] == ON, env.feasible_hosts[urgent]
    assert (feasible & on).any(axis=1).all() and (feasible & ~on).any()
    assert (candidates & ~on).any() == (boot_s <= SLO_S)


def test_the_boot_minutes_preset_foresees_as_far_as_a_boot_takes():
    from marl_alloc.floor.settings.compose import compose_settings

    settings = compose_settings(["experiment=boot_minutes"])
    env, forecaster = settings.env, settings.model.forecaster
    assert env.hosts.boot_delay_s > env.workload.slo_s and env.power.manager == "forecast"
    # The learned forecaster's bins are the oracle's, and the slots cover a whole boot.
    assert forecaster.resolution_s == env.knowledge.oracle_bin_s
    assert env.forecast_horizon * forecaster.resolution_s >= env.hosts.boot_delay_s
    assert forecaster.horizon >= env.forecast_horizon
