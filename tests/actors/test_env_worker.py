"""EnvWorker: with a mixer in the policy, env actors feed the team stream too; with a
forecaster, its forecasts fill the observations and its rows go to replay."""

import numpy as np
import torch

from actors.env_worker import EnvWorker
from marl_alloc.apex.builder import build_apex_config
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy.forecaster import FORECAST_TARGETS, FORECASTER_ID


def _worker(
    pushed: list, overrides: list[str], num_envs: int, seed: int = 0, epsilon: float = 0.5
) -> EnvWorker:
    """An env worker on the settings with `overrides`, pushing its batches onto `pushed`."""
    settings = compose_settings(overrides)
    return EnvWorker(
        settings.env,
        build_apex_config(settings).rl_module_spec,
        pushed.append,
        num_envs=num_envs,
        seed=seed,
        epsilon=epsilon,
        n_step=2,
        gamma=0.9,
    )


def test_env_actors_write_team_transitions_with_priorities_when_the_policy_has_a_mixer():
    pushed = []
    worker = _worker(pushed, ["model.mixer.kind=qmix"], num_envs=2)
    worker.collect(6)
    team = pushed[0][C.TEAM]
    assert len(team[C.REWARDS]) > 0
    assert np.isfinite(team[C.TD_ABS]).all() and (team[C.TD_ABS] > 0).any()
    assert team[C.level_column("cluster", C.ACTIVE)].all()


def _forecaster_worker(pushed: list, overrides: list[str] = ()) -> EnvWorker:
    forecaster = ["model.forecaster.enabled=true", "model.forecaster.resolution_s=2.0"]
    return _worker(pushed, [*forecaster, *overrides], num_envs=3)


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


def test_initial_priorities_from_the_acting_pass_equal_a_second_pass_of_the_policy_copy():
    from marl_alloc.policy.level_q_module import double_q_next_value
    from marl_alloc.policy.team_values import taken, team_values

    pushed = []
    worker = _worker(pushed, ["model.mixer.kind=qmix"], num_envs=3, seed=2, epsilon=0.3)
    worker.collect(8)
    batches = pushed[0]
    assert not any(
        "acting" in column or "best_q" in column for b in batches.values() for column in b
    )
    with torch.no_grad():
        for level in ("cluster", "rack", "leaf"):
            batch, module = batches[level], worker.module[level]
            out = module.compute_q_values({C.OBS: torch.from_numpy(batch[C.OBS])})
            actions = torch.from_numpy(batch[C.ACTIONS])
            next_q = module.compute_q_values({C.OBS: torch.from_numpy(batch[C.NEXT_OBS])})
            best = double_q_next_value(
                next_q["q_values"], torch.from_numpy(batch[C.NEXT_ACTION_MASK])
            )
            target = batch[C.REWARDS] + batch[C.DISCOUNTS] * best.numpy()
            expected = np.abs(target - taken(out["q_values"], actions).numpy())
            np.testing.assert_allclose(batch[C.TD_ABS], expected, rtol=1e-4, atol=1e-5)
            attention = taken(out["action_attention"], actions).numpy()
            np.testing.assert_allclose(batch[C.ATTENTION], attention, rtol=1e-4, atol=1e-6)
        team = {k: torch.from_numpy(v) for k, v in batches[C.TEAM].items()}
        levels = {level: worker.module[level] for level in ("cluster", "rack", "leaf")}
        values = team_values(levels, worker.module[C.TEAM], team, target=False)
        expected = (values.td_target - values.q_tot).abs().numpy()
    np.testing.assert_allclose(batches[C.TEAM][C.TD_ABS], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batches[C.TEAM][C.ATTENTION], values.attention.numpy(), atol=1e-6)
