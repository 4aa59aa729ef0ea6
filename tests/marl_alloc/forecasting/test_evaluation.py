"""`forecast evaluate`'s skill columns: 1 - MAE / MAE_reference against persistence and seasonal
naive, checked on a series whose baseline errors are known in closed form."""

import json

import numpy as np
import pytest

from marl_alloc.forecast import main
from marl_alloc.forecasting.metrics import skill
from tests.marl_alloc.forecasting.conftest import TINY_OVERRIDES

HORIZON, SEASON, AVERAGED = 4, 12, 12


@pytest.fixture
def ramp_csv(tmp_path):
    """y_t = t every 5 min: persistence misses by k at step k, seasonal naive by the season."""
    steps = 400
    rows = "\n".join(f"{300 * t},{float(t)}" for t in range(steps))
    path = tmp_path / "ramp.csv"
    path.write_text("timestamp,cpu\n" + rows + "\n")
    return path


def test_skill_is_one_minus_the_mae_ratio():
    assert skill(2.0, 8.0) == 0.75 and skill(8.0, 8.0) == 0.0 and skill(12.0, 8.0) == -0.5
    assert skill(1.0, 0.0) is None  # against a perfect reference


def test_every_row_reports_skill_against_both_references(ramp_csv, tmp_path, capsys):
    series = ["--workload", "series", "--series", str(ramp_csv), "--column", "cpu"]
    overrides = [
        *TINY_OVERRIDES,
        f"data.horizon={HORIZON}",
        f"data.seasons_s=[{SEASON * 300}]",
        f"evaluate.moving_average_steps={AVERAGED}",
        "evaluate.peers=[]",
    ]
    model, out = tmp_path / "m", tmp_path / "e"
    assert main(["train", *series, "--out", str(model), "--no-progress", *overrides]) == 0
    assert main(["evaluate", "--model", str(model), *series, "--out", str(out), *overrides]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # On a ramp: persistence errs by k at step k (mean (H+1)/2), seasonal naive by the season,
    # the mean of the last n values by k - 1 + (n + 1)/2.
    persistence = (HORIZON + 1) / 2
    expected = {
        "persistence": persistence,
        "seasonal_naive": SEASON,
        "moving_average": persistence + (AVERAGED - 1) / 2,
    }
    for name, mae in expected.items():
        row = metrics[name]
        assert row["mae"] == pytest.approx(mae)
        assert row["skill_vs_persistence"] == pytest.approx(1 - mae / persistence)
        assert row["skill_vs_seasonal_naive"] == pytest.approx(1 - mae / SEASON)
    for name in ("hybrid", "lstm_only", "mamba_only", "ridge"):
        row = metrics[name]
        assert row["skill_vs_persistence"] == pytest.approx(1 - row["mae"] / persistence)
        assert row["skill_vs_seasonal_naive"] == pytest.approx(1 - row["mae"] / SEASON)
    assert metrics["rows"][:3] == ["hybrid", "lstm_only", "mamba_only"]
    table = capsys.readouterr().out
    assert f"{1 - SEASON / persistence:+.3f}" in table  # seasonal naive's skill vs persistence


def test_skill_vs_seasonal_naive_is_empty_when_it_is_skipped(sine_csv, tmp_path):
    # Three days with a week as the only season: no seasonal naive row, no skill against it.
    series = ["--workload", "series", "--series", str(sine_csv), "--column", "cpu"]
    overrides = [*TINY_OVERRIDES, "data.seasons_s=[604800]", "evaluate.peers=[]"]
    overrides.append("train.ablations=[]")
    model, out = tmp_path / "m", tmp_path / "e"
    assert main(["train", *series, "--out", str(model), "--no-progress", *overrides]) == 0
    assert main(["evaluate", "--model", str(model), *series, "--out", str(out), *overrides]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seasonal_naive"] is None and "seasonal_naive" in metrics["skipped"]
    assert metrics["hybrid"]["skill_vs_seasonal_naive"] is None
    assert np.isfinite(metrics["hybrid"]["skill_vs_persistence"])
