"""Experiment presets compose with Hydra and build their datacenters."""

import pytest

from envs import VectorDatacenterEnv
from marl_alloc.floor.paths import PROJECT_ROOT
from marl_alloc.floor.settings.compose import compose_settings


@pytest.mark.parametrize("name", ["quick", "long"])
def test_synthetic_presets_compose(name):
    settings = compose_settings([f"experiment={name}"])
    assert settings.env.name == "synthetic"
    assert settings.training.total_env_steps >= 60000


def test_google_preset_trains_on_part_0_of_data_dir(shared_data, tmp_path):
    data_dir = shared_data / "google-2011"
    settings = compose_settings(["experiment=google2011", f"data_dir={data_dir}"])
    tasks = settings.env.workload.tasks
    assert tasks == [f"{data_dir}/task_events-part-00000-of-00500.csv.gz"]
    env = VectorDatacenterEnv(settings.env, num_envs=2, seed=0, continuing=True)
    level_obs = env.reset(seed=0)
    assert level_obs.obs.shape == (2, env.obs_dims["cluster"])


def test_google_preset_default_data_dir_is_the_shared_one():
    settings = compose_settings(["experiment=google2011"])
    assert settings.data_dir == str(PROJECT_ROOT / "../shared/data/google-2011")


def test_google_preset_builds_its_algorithm(shared_data, ray_session):
    from marl_alloc.apex.builder import build_apex_config

    data_dir = shared_data / "google-2011"
    settings = compose_settings(["experiment=google2011", f"data_dir={data_dir}"])
    # A whole cell masks most racks, so RLlib's random-action env check must not run on it.
    algo = build_apex_config(settings).build_algo()
    try:
        assert algo.training_iteration == 0
    finally:
        algo.stop()


def test_the_caiso_carbon_preset_prices_the_real_grid_and_observes_the_outlook(shared_data):
    settings = compose_settings(["experiment=caiso_carbon"])
    assert settings.env.carbon.forecast == "causal"
    env = VectorDatacenterEnv(settings.env, num_envs=2, seed=0)
    plain = VectorDatacenterEnv(compose_settings([]).env, num_envs=2, seed=0)
    assert env.carbon.step_s == 300.0  # WattTime's 5-minute series, not the hourly diurnal one
    assert env.obs_dims["cluster"] == plain.obs_dims["cluster"] + 2
