"""EnvWorker: with a mixer in the policy, env actors feed the team stream too; with a
forecaster, its forecasts fill the observations and its rows go to replay."""

import numpy as np
import torch

from actors.env_worker import EnvWorker
from marl_alloc.apex.builder import build_apex_config
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy.forecaster import FORECAST_TARGETS, FORECASTER_ID


def test_env_actors_write_team_transitions_with_priorities_when_the_policy_has_a_mixer():
    settings = compose_settings(["model.mixer.kind=qmix"])
    pushed = []
    worker = EnvWorker(
        settings.env,
        build_apex_config(settings).rl_module_spec,
        pushed.append,
        num_envs=2,
        seed=0,
        epsilon=0.5,
        n_step=2,
        gamma=0.9,
    )
    worker.collect(6)
    team = pushed[0][C.TEAM]
    assert len(team[C.REWARDS]) > 0
    assert np.isfinite(team[C.TD_ABS]).all() and (team[C.TD_ABS] > 0).any()
    assert team[C.level_column("cluster", C.ACTIVE)].all()


def _forecaster_worker(pushed: list, overrides: list[str] = ()) -> EnvWorker:
    settings = compose_settings(
        ["model.forecaster.enabled=true", "model.forecaster.resolution_s=2.0", *overrides]
    )
    return EnvWorker(
        settings.env,
        build_apex_config(settings).rl_module_spec,
        pushed.append,
        num_envs=3,
        seed=0,
        epsilon=0.5,
        n_step=2,
        gamma=0.9,
    )


def test_env_actors_observe_the_forecasters_forecasts_and_feed_its_rows_to_replay():
    pushed, calls = [], []
    worker = _forecaster_worker(pushed)
    env, net = worker.env, worker.module[FORECASTER_ID].net
    set_forecast = env.set_forecast

    def spy(forecast, envs=None):
        # What the forecaster itself says for these envs' latest windows.
        inputs = torch.from_numpy(worker.feed.features(env, envs, env.demand_bins_closed[envs]))
        with torch.no_grad():
            expected = net(inputs.flatten(0, 1))[:, : forecast.shape[-1], 0]
        calls.append((forecast.copy(), expected.numpy().reshape(forecast.shape)))
        set_forecast(forecast, envs)

    env.set_forecast = spy
    worker.collect(40)
    assert calls, "no demand bin closed in 40 cycles"
    for forecast, expected in calls:
        assert np.abs(forecast).max() > 0
        np.testing.assert_allclose(forecast, expected, rtol=1e-5, atol=1e-6)
    horizon = env.config.forecast_horizon
    cluster_obs = worker.level_obs.obs if worker.level_obs.level == "cluster" else None
    if cluster_obs is not None:  # the forecast slots hold the leaf forecasts' mean
        np.testing.assert_allclose(
            cluster_obs[:, -horizon:], env.forecast.mean(axis=1), rtol=1e-5, atol=1e-6
        )
    rows = pushed[0][FORECASTER_ID]
    module = worker.module[FORECASTER_ID]
    assert rows[C.OBS].shape[1:] == (module.window, 6)
    assert rows[FORECAST_TARGETS].shape[1:] == (module.net.cfg.horizon, 2)
    assert len(rows[C.OBS]) % env.topology.num_leaves == 0
    assert (rows[C.TD_ABS] == 0).all()
    np.testing.assert_array_less(0, rows[FORECAST_TARGETS][..., 0].mean())
