import numpy as np
import pytest

from envs import EnvConfig, EnvConfigError, VectorDatacenterEnv, WorkloadError
from envs.carbon import CarbonSeries
from envs.power import PowerModel
from marl_alloc.floor.settings.env import CarbonConfig, HostConfig


def test_linear_and_specpower_models():
    linear = PowerModel.from_config(HostConfig(idle_watts=100.0, max_watts=200.0))
    np.testing.assert_allclose(linear.watts(np.array([0.0, 0.5, 1.0, 1.7])), [100, 150, 200, 200])
    g4 = PowerModel.from_config(HostConfig(power_model="ml110_g4"))
    # CloudSim interpolates between the 10% steps: 86 W idle, 117 W at 100%
    np.testing.assert_allclose(g4.watts(np.array([0.0, 0.05, 1.0])), [86.0, 87.7, 117.0])
    assert g4.idle_watts == 86.0
    with pytest.raises(EnvConfigError, match="power_model"):
        PowerModel.from_config(HostConfig(power_model="ml999"))


def test_specpower_env_uses_the_table(synthetic_config):
    synthetic_config["hosts"]["power_model"] = "ml110_g5"
    env = VectorDatacenterEnv(synthetic_config, num_envs=1, seed=0)
    assert env.power_model.idle_watts == 93.7


def test_diurnal_carbon_is_seeded_and_lowest_after_noon():
    a = CarbonSeries.from_config(CarbonConfig(hourly_noise=0.0), seed=1)
    hours = np.arange(24) * 3600.0
    assert int(np.argmin(a.at(hours))) == 13 and a.mean == pytest.approx(250.0)
    b, c = (CarbonSeries.from_config(CarbonConfig(), seed=s) for s in (1, 1))
    np.testing.assert_array_equal(b.g_per_kwh, c.g_per_kwh)


def write_watttime_like(path, rows=6):
    lines = ["\ufeffoootime,Caiso_North"]  # the real export's first header cell is garbled
    for i in range(rows):
        lines.append(f"2023-06-08 00:{5 * i:02d}:00,{400 + 10 * i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_carbon_csv_with_garbled_header_and_lbs(tmp_path):
    path = write_watttime_like(tmp_path / "caiso.csv")
    config = CarbonConfig(kind="csv", csv=str(path), column="Caiso_North", unit="lbs_per_mwh")
    series = CarbonSeries.from_config(config, seed=0)
    assert series.step_s == 300.0
    assert series.at(np.array([0.0, 301.0]))[1] == pytest.approx(410 * 0.45359237)
    np.testing.assert_allclose(series.at(np.array([6 * 300.0])), 400 * 0.45359237)  # repeats


def test_carbon_csv_errors(tmp_path):
    path = write_watttime_like(tmp_path / "caiso.csv")
    with pytest.raises(WorkloadError, match="no column 'South'"):
        CarbonSeries.from_config(CarbonConfig(kind="csv", csv=str(path), column="South"), 0)
    with pytest.raises(WorkloadError, match="unit"):
        CarbonSeries.from_config(CarbonConfig(kind="csv", csv=str(path), unit="tons"), 0)
    with pytest.raises(WorkloadError, match="names no file"):
        CarbonSeries.from_config(CarbonConfig(kind="csv"), 0)


def test_real_watttime_file(shared_data, synthetic_config):
    path = shared_data / "carbon" / "watttime_caiso_north_2023-06_5min.csv"
    if not path.is_file():
        pytest.skip("WattTime file is not in ../shared/data")
    synthetic_config["carbon"] = {"kind": "csv", "csv": str(path), "unit": "lbs_per_mwh"}
    synthetic_config["reward"]["w_carbon"] = 1.0
    env = VectorDatacenterEnv(EnvConfig.from_mapping(synthetic_config), num_envs=1, seed=0)
    assert env.carbon.step_s == 300.0 and len(env.carbon.g_per_kwh) == 8928
    assert 100 < env.carbon.mean < 400  # g/kWh after converting from lbs/MWh
