"""Forecast-value bench: three arms that differ only in their forecasts, the oracle arm seeing
the true future demand, ratios paired per episode, and one tiny real run's JSON line."""

import json

import numpy as np
import pytest

from envs import VectorDatacenterEnv
from envs.heuristics import FirstFit
from marl_alloc.bench import forecast_value
from marl_alloc.bench.learning import run_settings
from tests.marl_alloc.tiny_run import TINY_RUN


def arm_settings(arm: str, signal: str = "demand"):
    return run_settings(forecast_value.arm_overrides(arm, [], None, signal), 0, 100)


def test_the_demand_arms_differ_only_in_their_forecasts():
    without, learned, oracle = (arm_settings(arm) for arm in forecast_value.ARMS)
    assert not without.model.forecaster.enabled and learned.model.forecaster.enabled
    assert not oracle.model.forecaster.enabled
    assert oracle.env.knowledge.demand_forecast == "oracle"
    assert oracle.env.knowledge.oracle_bin_s == learned.model.forecaster.resolution_s
    assert without.env == learned.env
    assert without.training == learned.training == oracle.training


def test_the_carbon_arms_differ_only_in_the_outlook_of_a_deferral():
    without, causal, oracle = (arm_settings(a, "carbon") for a in forecast_value.ARMS)
    outlooks = [s.env.carbon.forecast for s in (without, causal, oracle)]
    assert outlooks == ["none", "causal", "oracle"]
    assert without.model == causal.model == oracle.model
    assert without.env.knowledge == causal.env.knowledge == oracle.env.knowledge


def test_the_usage_arms_differ_only_in_the_host_usage_they_read():
    without, causal, oracle = (arm_settings(a, "usage") for a in forecast_value.ARMS)
    usages = [s.env.knowledge.host_usage for s in (without, causal, oracle)]
    assert usages == ["current", "forecast", "oracle"]
    assert without.model == causal.model == oracle.model
    assert without.env.carbon == causal.env.carbon == oracle.env.carbon


def test_the_oracle_arm_sees_the_future_demand_and_the_others_do_not():
    for arm, sees in (("without", False), ("oracle", True)):
        env = VectorDatacenterEnv(arm_settings(arm).env, num_envs=2, seed=0)
        policy, level_obs = FirstFit(), env.observe()
        for _ in range(3 * len(env.LEVELS)):
            level_obs = env.step(policy.act(env, level_obs)).next
        # The oracle's content is tested against the demand that follows (test_oracle_forecast).
        assert env.forecast.any() == sees
        assert (env.oracle_forecast is not None) == sees


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--eval-seed", "777"], "test data"),
        (["model.forecaster.enabled=true"], "per arm"),
        (["env.knowledge.demand_forecast=oracle"], "per arm"),
        (["env.carbon.forecast=causal"], "per arm"),
        (["env.knowledge.host_usage=forecast"], "per arm"),
        (["--signal", "weather"], "invalid choice"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        forecast_value.parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_ratios_pair_each_episode_with_itself():
    rng = np.random.default_rng(0)
    ratio = forecast_value.paired_ratio(np.array([2.0, 8.0]), np.array([1.0, 4.0]), rng)
    assert ratio == {"mean": 2.0, "ci95": [2.0, 2.0]}


@pytest.mark.slow
def test_a_tiny_run_prints_the_ratios_as_one_json_line(capsys):
    argv = [
        "--seeds", "0", "1",
        "--env-steps", "400",
        "--episodes", "2",
        "--tasks", "20",
        "--json",
        *TINY_RUN,
    ]  # fmt: skip
    assert forecast_value.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("cost_ratio", "oracle_cost_ratio"):
        lo, hi = result[key]["ci95"]
        assert lo <= result[key]["mean"] <= hi
    assert result["train_time_ratio"] == pytest.approx(
        result["arms"]["forecast"]["train_wall_s"] / result["arms"]["without"]["train_wall_s"],
        rel=0.1,
    )
    assert set(result["arms"]) == {"without", "forecast", "oracle"}
    assert all(len(a["seed_costs"]) == 2 for a in result["arms"].values())
    assert [len(r) for r in result["seed_ratios"].values()] == [2, 2]
    assert "ablation" in result["knowledge"]["oracle"]
