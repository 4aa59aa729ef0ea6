"""The established peers in `forecast evaluate`: rows when the `[peers]` extra is installed, a
note when it is not, and their forecasts laid out like ours."""

import json
import sys

import numpy as np
import pytest
import torch

from marl_alloc.floor.settings.forecast import SyntheticSeriesConfig
from marl_alloc.forecast import main
from marl_alloc.forecasting import peers
from marl_alloc.forecasting.series import WindowBatches
from marl_alloc.forecasting.synthetic import synthetic_series
from tests.marl_alloc.forecasting.conftest import TINY_OVERRIDES

# NHITS small enough to train in seconds on a CPU.
TINY_NHITS = [
    "evaluate.nhits.input_steps=8",
    "evaluate.nhits.mlp_units=8",
    "evaluate.nhits.max_steps=5",
    "evaluate.nhits.windows_batch_size=16",
    "evaluate.nhits.val_check_steps=5",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    argv = ["train", "--out", str(out), "--no-progress", *TINY_OVERRIDES, "train.ablations=[]"]
    assert main(argv) == 0
    return out


def test_missing_peer_libraries_skip_their_rows_with_a_note(trained, tmp_path, monkeypatch, capsys):
    # A None entry in sys.modules makes `import` fail as if the extra were not installed.
    for library in peers.PEER_LIBRARIES:
        monkeypatch.setitem(sys.modules, library, None)
    assert main(["evaluate", "--model", str(trained), "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert not {"mstl", "autoets", "nhits"} & set(metrics["rows"]) and metrics["peers"] == {}
    out = capsys.readouterr().out
    for library in peers.PEER_LIBRARIES:
        assert "not installed" in metrics["skipped"][library]
        assert f"skipped {library}: {library} is not installed" in out


def test_an_unknown_peer_is_a_one_line_error(trained, tmp_path, capsys):
    argv = ["evaluate", "--model", str(trained), "--out", str(tmp_path), "evaluate.peers=[prophet]"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "evaluate.peers: unknown ['prophet']" in err


def test_peer_forecasts_are_origin_major_like_our_windows():
    pd = pytest.importorskip("pandas")
    settings = SyntheticSeriesConfig(
        days=1, arrival_rate_per_s=0.02, bursts_per_day=2, burst_size_mean=10, duration_mean_s=600
    )
    series = synthetic_series(settings, 2, 300, seed=0)
    origins, horizon = np.arange(100, 110), 3
    # A "forecast" that is the truth, in cross_validation's long layout, shuffled.
    rows = [
        {"unique_id": f"{g}/{t}", "ds": o + k, "cutoff": o - 1,
         "Peer": float(series.targets[o + k, i, j])}
        for o in origins for k in range(horizon)
        for i, g in enumerate(series.group_names) for j, t in enumerate(series.target_names)
    ]  # fmt: skip
    cv = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    got = peers._to_forecasts(cv, "Peer", series, origins, horizon)
    data = WindowBatches(series, origins, 4, horizon)
    np.testing.assert_array_equal(got, data.batch(torch.arange(len(data)))[1].numpy())


@pytest.mark.slow
def test_installed_peers_are_scored_in_the_same_run(trained, tmp_path, capsys):
    for library in peers.PEER_LIBRARIES:
        pytest.importorskip(library)
    argv = ["evaluate", "--model", str(trained), "--out", str(tmp_path), *TINY_NHITS]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # Three days at 5 min: the training rows span the day twice, so MSTL with a daily season.
    assert {"mstl", "nhits"} <= set(metrics["rows"]) and metrics["skipped"] == {}
    assert "MSTL(season_length=[288]" in metrics["peers"]["mstl"]
    for name in ("mstl", "nhits"):
        row = metrics[name]
        assert row["mae"] > 0 and np.isfinite(row["skill_vs_persistence"])
        assert row["skill_vs_persistence"] == pytest.approx(
            1 - row["mae"] / metrics["persistence"]["mae"]
        )
        assert len(metrics["mae_by_step"][name]) == metrics["horizon"]
    table = capsys.readouterr().out
    assert "\nmstl " in table and "\nnhits " in table
