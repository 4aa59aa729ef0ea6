import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import EnvConfig, EnvConfigError, VectorDatacenterEnv, make_heuristic
from envs.hosts import HostArrays
from envs.power import PowerModel
from envs.records import RUNNING_DTYPES
from envs.slots import SlotTable
from envs.usage import UsageModel
from envs.usage_forecast import HostUsageForecast
from marl_alloc.floor.settings.env import HostConfig, KnowledgeConfig, UsageConfig
from tests.envs.conftest import random_actions

# The block columns that read the host usage env.knowledge.host_usage selects: a group's max
# usage headroom, the share it takes without overload, and PABFD's least power and energy among
# those hosts; a host's overload flag.
GROUP_OVERCOMMIT = (8, 10, 12, 13)
HOST_OVERCOMMIT = (7,)


def overcommitting(config: dict, mode: str) -> dict:
    """`config` with CPU overcommit allowed, short usage periods and this host_usage."""
    config = copy.deepcopy(config)
    config["hosts"]["cpu_overcommit_max"] = 2.0
    config["usage"]["period_s"] = 30.0
    config["knowledge"]["host_usage"] = mode
    return config


def env_after(config: dict, mode: str, num_envs: int, cycles: int) -> VectorDatacenterEnv:
    """An env run `cycles` decision cycles by PABFD packing to 2x (it reads overcommit_usage
    every cycle, so the kept figures are read between changes)."""
    env = VectorDatacenterEnv(overcommitting(config, mode), num_envs=num_envs, seed=0)
    policy = make_heuristic("pabfd@2.0")
    for _ in range(cycles):
        env.step_hosts(policy.hosts(env))
    return env


def recounted(env: VectorDatacenterEnv) -> np.ndarray:
    """The hosts' next-periods figures recomputed from the running table alone."""
    env.usage_forecast.rebuild(env.num_envs, env.topology.num_hosts)
    env.overcommit_usage()
    return env.usage_forecast.host.copy()


@pytest.mark.parametrize("mode", ["forecast", "oracle"])
@pytest.mark.parametrize("num_envs", [1, 3])
def test_kept_host_figures_equal_a_recount(small_config, mode, num_envs):
    env = env_after(small_config, mode, num_envs, cycles=300)
    # Placements, finishes, usage periods and migrations have all happened by now.
    assert (env.metrics()["migrations"] > 0).any()
    assert (env.running["usage_n"][env.running.active] > 5).any()
    env.overcommit_usage()
    kept = env.usage_forecast.host.copy()
    np.testing.assert_allclose(kept, recounted(env), rtol=1e-9, atol=1e-9)


def scramble_hidden_state(env: VectorDatacenterEnv) -> None:
    """New true usage factors and noise states for every running task, nothing observed."""
    rng = np.random.default_rng(1)
    shape = env.running["z"].shape
    env.running["factor"][:] = rng.uniform(0.1, 3.0, shape)
    env.running["z"][:] = rng.standard_normal(shape)


def test_the_forecast_reads_no_hidden_state(small_config):
    env = env_after(small_config, "forecast", num_envs=2, cycles=150)
    before = recounted(env)
    scramble_hidden_state(env)
    np.testing.assert_array_equal(recounted(env), before)
    # It is a forecast, not the usage measured now.
    assert not np.allclose(before, env.hosts.cpu_usage)


def test_the_oracle_reads_the_true_usage_factor_and_noise(small_config):
    env = env_after(small_config, "oracle", num_envs=2, cycles=150)
    before = recounted(env)
    causal_knowledge = KnowledgeConfig(host_usage="forecast")
    prior = env.config.workload.usage_factor_mean
    forecast = HostUsageForecast(causal_knowledge, env.config.usage, prior)
    forecast.rebuild(env.num_envs, env.topology.num_hosts)
    causal = forecast.read(env.hosts, env.running, env.next_tick_s)
    assert not np.allclose(before, causal)
    assert not np.allclose(before, env.hosts.cpu_usage)
    scramble_hidden_state(env)
    assert not np.allclose(recounted(env), before)


def one_host_of_tasks(num_tasks: int, cpu: float, factor: float) -> tuple[HostArrays, SlotTable]:
    """One host running `num_tasks` tasks of one request and usage factor, usage observed once."""
    hosts = HostArrays.empty(
        np.array([[1.0]]), np.array([[1.0]]), PowerModel((100.0, 200.0)), HostConfig()
    )
    running = SlotTable(1, RUNNING_DTYPES, capacity=num_tasks)
    rows = {name: np.zeros(num_tasks, dtype) for name, dtype in RUNNING_DTYPES.items()}
    rows |= {"cpu": np.full(num_tasks, cpu), "factor": np.full(num_tasks, factor)}
    rows["usage"] = rows["cpu"] * rows["factor"]
    rows["usage_n"], rows["usage_sum"] = np.ones(num_tasks), rows["usage"]
    env = np.zeros(num_tasks, np.int64)
    running.fill(env, rows)
    hosts.add_many(env, rows["host"], rows["cpu"], rows["mem"], rows["usage"])
    return hosts, running


def forecast_after(
    periods: int, usage: UsageConfig, knowledge: KnowledgeConfig, prior: float, **tasks
) -> float:
    """The host's forecast after `periods` usage periods of its tasks' usage (seed 0)."""
    hosts, running = one_host_of_tasks(**tasks)
    model, rng, env = UsageModel(usage), np.random.default_rng(0), np.zeros(1, np.int64)
    for _ in range(periods):
        model.redraw(rng, running, hosts, env)
    forecast = HostUsageForecast(knowledge, usage, prior)
    forecast.rebuild(1, 1)
    forecast.read(hosts, running, np.zeros(1))
    return float(forecast.host[0, 0])


@settings(max_examples=40, deadline=None)
@given(
    factor=st.floats(0.1, 2.0),
    prior=st.floats(0.1, 2.0),
    weight=st.floats(0.1, 20.0),
    persistence=st.floats(0.0, 1.0),
    horizon=st.integers(1, 24),
    periods=st.integers(0, 400),
)
def test_without_noise_the_forecast_closes_on_the_task_mean_as_periods_pass(
    factor, prior, weight, persistence, horizon, periods
):
    knowledge = KnowledgeConfig(
        host_usage="forecast",
        usage_horizon=horizon,
        usage_prior_weight=weight,
        usage_persistence=persistence,
    )
    cpu = 0.25
    forecast = forecast_after(
        periods, UsageConfig(sigma=0.0), knowledge, prior, num_tasks=1, cpu=cpu, factor=factor
    )
    # The prior's pull fades as observed periods add up: weight / (weight + observations).
    bound = weight * abs(prior - factor) * cpu / (weight + periods + 1)
    assert abs(forecast - cpu * factor) <= bound * (1 + 1e-5) + 1e-7
    assert (
        min(cpu * factor, cpu * prior) - 1e-7 <= forecast <= max(cpu * factor, cpu * prior) + 1e-7
    )


@settings(max_examples=15, deadline=None)
@given(
    factor=st.floats(0.2, 2.0),
    prior=st.floats(0.2, 2.0),
    sigma=st.floats(0.05, 0.5),
    correlation=st.floats(0.0, 0.9),
)
def test_with_noise_the_forecast_converges_to_the_tasks_mean(factor, prior, sigma, correlation):
    usage = UsageConfig(sigma=sigma, correlation=correlation)
    knowledge = KnowledgeConfig(host_usage="forecast", usage_persistence=0.0)
    num_tasks, cpu, periods = 200, 0.004, 1000
    forecast = forecast_after(
        periods, usage, knowledge, prior, num_tasks=num_tasks, cpu=cpu, factor=factor
    )
    mean = num_tasks * cpu * factor
    shrink = 2.0 * abs(prior - factor) / factor / (2.0 + periods + 1)
    # The mean of 200 tasks x 1000 correlated periods is within ~1% of theirs (6 sigma: 3%).
    assert forecast / mean == pytest.approx(1.0, abs=shrink + 0.03)


@pytest.mark.parametrize(("factor", "prior"), [(2.0, 0.5), (0.5, 2.0)])
def test_decisions_read_the_larger_of_the_usage_now_and_the_forecast(factor, prior):
    usage, knowledge = UsageConfig(sigma=0.0), KnowledgeConfig(host_usage="forecast")
    hosts, running = one_host_of_tasks(num_tasks=4, cpu=0.1, factor=factor)
    forecast = HostUsageForecast(knowledge, usage, prior)
    forecast.rebuild(1, 1)
    read = float(forecast.read(hosts, running, np.zeros(1))[0, 0])
    measured, ahead = float(hosts.cpu_usage[0, 0]), float(forecast.host[0, 0])
    # One period seen: the prior still pulls the forecast toward its factor.
    assert (ahead < measured) == (prior < factor)
    assert read == pytest.approx(max(measured, ahead))


def test_only_the_overcommit_features_read_the_forecast(small_config):
    """Same actions, same episodes: `current` and `forecast` observations differ in the
    overcommit columns only, with the same dimensions."""
    envs = {
        mode: VectorDatacenterEnv(overcommitting(small_config, mode), num_envs=2, seed=0)
        for mode in ("current", "forecast")
    }
    assert envs["current"].obs_dims == envs["forecast"].obs_dims
    rng = np.random.default_rng(0)
    obs = {mode: env.observe() for mode, env in envs.items()}
    differed = False
    for _ in range(600):
        current, forecast = obs["current"], obs["forecast"]
        assert current.level == forecast.level
        np.testing.assert_array_equal(current.action_mask, forecast.action_mask)
        top = envs["current"].topology
        children, width, allowed = {
            "cluster": (top.racks_per_cluster, 14, GROUP_OVERCOMMIT),
            "rack": (top.leaves_per_rack, 14, GROUP_OVERCOMMIT),
            "leaf": (top.hosts_per_leaf, 14, HOST_OVERCOMMIT),
        }[current.level]
        split = children * width
        np.testing.assert_array_equal(current.obs[:, split:], forecast.obs[:, split:])
        blocks = [o.obs[:, :split].reshape(-1, children, width) for o in (current, forecast)]
        others = [c for c in range(width) if c not in allowed]
        np.testing.assert_array_equal(blocks[0][..., others], blocks[1][..., others])
        differed |= not np.array_equal(blocks[0], blocks[1])
        actions = random_actions(rng, current.action_mask)
        obs = {mode: env.step(actions).next for mode, env in envs.items()}
    assert differed


@pytest.mark.parametrize("spec", ["pabfd@2.0", "lifetime-pabfd@2.0"])
def test_pabfd_judges_overload_on_the_selected_usage(small_config, spec, monkeypatch):
    env = VectorDatacenterEnv(overcommitting(small_config, "forecast"), num_envs=1, seed=0)
    feasible = np.flatnonzero(env.feasible_hosts[0])
    target = int(feasible[-1])
    # Every host but the target reads as full: the only one the task would not overload.
    full = env.hosts.cpu_capacity.copy()
    full[0, target] = 0.0
    monkeypatch.setattr(env, "overcommit_usage", lambda: full)
    assert make_heuristic(spec).choose_host(env)[0] == target


def test_the_default_reads_the_current_usage(synthetic_config):
    assert EnvConfig.from_mapping(synthetic_config).knowledge.host_usage == "current"
    env = VectorDatacenterEnv(synthetic_config, num_envs=1, seed=0)
    assert env.overcommit_usage() is env.hosts.cpu_usage


@pytest.mark.parametrize(
    "knowledge, fragment",
    [
        ({"host_usage": "psychic"}, "env.knowledge.host_usage must be one of"),
        ({"usage_horizon": 0}, "usage_horizon >= 1"),
        ({"usage_prior_weight": 0.0}, "usage_prior_weight > 0"),
        ({"usage_persistence": 1.5}, "usage_persistence must be in"),
    ],
)
def test_bad_host_usage_settings_fail_with_one_line(knowledge, fragment):
    with pytest.raises(EnvConfigError, match=fragment) as info:
        EnvConfig.from_mapping({"knowledge": knowledge})
    assert "\n" not in str(info.value)


def test_a_bad_host_usage_on_the_command_line_exits_2_with_one_line(capsys):
    from marl_alloc.bench.env import main

    assert main(["--steps", "10", "env.knowledge.host_usage=psychic"]) == 2
    err = capsys.readouterr().err.strip()
    assert "env.knowledge.host_usage" in err and "\n" not in err
