"""`python -m marl_alloc.forecast train|evaluate` end to end, and its one-line user errors."""

import json
import subprocess
import sys

import pytest

from marl_alloc.forecast import main
from tests.marl_alloc.forecasting.conftest import NO_PEERS, TINY_OVERRIDES

METRIC_KEYS = {
    "hybrid",
    "persistence",
    "moving_average",
    "seasonal_naive",
    "lstm_only",
    "mamba_only",
    "ridge",
    "horizon",
    "resolution_s",
    "series",
    "rows",
}
SKILLS = {"skill_vs_persistence", "skill_vs_seasonal_naive"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained once on a synthetic workload for the tests that evaluate it."""
    out = tmp_path_factory.mktemp("model")
    assert main(["train", "--out", str(out), "--no-progress", *TINY_OVERRIDES]) == 0
    return out


def test_train_saves_hybrid_and_ablations(trained):
    saved = json.loads((trained / "forecaster.json").read_text())
    assert saved["models"] == ["hybrid", "lstm_only", "mamba_only"]
    assert all((trained / f"{name}.pt").is_file() for name in saved["models"])


def test_evaluate_writes_metrics_with_all_keys(trained, tmp_path, capsys):
    assert main(["evaluate", "--model", str(trained), "--out", str(tmp_path), *NO_PEERS]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    for name in ("hybrid", "lstm_only", "mamba_only", "persistence", "moving_average", "ridge"):
        assert set(metrics[name]) == {"mae", "rmse", "mape"} | SKILLS
    assert metrics["horizon"] == 4 and metrics["resolution_s"] == 300
    assert (tmp_path / "forecast.png").stat().st_size > 0
    assert "metrics:" in capsys.readouterr().out


def test_ensemble_trains_each_model_from_the_same_seeds(tmp_path):
    out = tmp_path / "m"
    argv = ["train", "--out", str(out), "--no-progress", *TINY_OVERRIDES, "train.ensemble=2"]
    assert main([*argv, "train.ablations=[lstm_only]"]) == 0
    training = json.loads((out / "forecaster.json").read_text())["training"]
    assert all(len(training[name]["members"]) == 2 for name in ("hybrid", "lstm_only"))
    assert main(["evaluate", "--model", str(out), "--out", str(tmp_path / "e"), *NO_PEERS]) == 0


def test_series_workload_trains_and_evaluates(sine_csv, tmp_path):
    series_args = ["--workload", "series", "--series", str(sine_csv), "--column", "cpu"]
    model, out = tmp_path / "m", tmp_path / "e"
    overrides = [*TINY_OVERRIDES, "train.ablations=[]"]
    assert main(["train", *series_args, "--out", str(model), "--no-progress", *overrides]) == 0
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(model),
                *series_args,
                "--out",
                str(out),
                "--test-fraction",
                "0.3",
                *NO_PEERS,
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["series"] == "util.csv:cpu" and metrics["lstm_only"] is None
    assert metrics["seasonal_naive"]["mae"] > 0  # two days of context before the test split


def _error_of(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


def test_bad_column_is_one_line_exit_2(sine_csv, tmp_path, capsys):
    err = _error_of(
        [
            "train",
            "--workload",
            "series",
            "--series",
            str(sine_csv),
            "--column",
            "gpu",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert "'gpu'" in err and "cpu, mem" in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            ["train", "--workload", "series", "--series", "no.csv", "--column", "c"],
            "does not exist",
        ),
        (
            ["train", "--workload", "google2011", "--task-events", "t.csv.gz"],
            "needs --task-events F [F ...] and --machine-events F",
        ),
        (
            ["train", "--workload", "google2011", "--task-events", "t.csv.gz"]
            + ["--machine-events", "m.csv.gz"],
            "does not exist",
        ),
        (["train", "--horizon", "0"], "data.horizon must be"),
        (["train", "--train-fraction", "1.5"], "data.train_fraction must be"),
        (["evaluate", "--model", "/nonexistent", "--bogus"], "unrecognized arguments"),
        (["train", "model.no_such_key=3"], "bad config override"),
        (["train", "train.lr=-1"], "train.lr must be"),
        (["train", "model.level_steps=99"], "model.level_steps must be"),
        (["train", "--workload", "bogus"], "unknown workload"),
        (["evaluate", "--model", "/nonexistent"], "holds no forecaster.json"),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, fragment, tmp_path, capsys):
    assert fragment in _error_of([*argv, "--out", str(tmp_path)], capsys)


def test_malformed_csv_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text('cpu,mem\n1,2\n3,4,5\n"unterminated\n')
    argv = ["train", "--workload", "series", "--series", str(bad), "--column", "cpu"]
    assert "cannot read" in _error_of([*argv, "--out", str(tmp_path / "m")], capsys)


def test_series_too_short_for_the_window(sine_csv, tmp_path, capsys):
    err = _error_of(
        [
            "train",
            "--workload",
            "series",
            "--series",
            str(sine_csv),
            "--column",
            "cpu",
            "--out",
            str(tmp_path),
            "data.window=900",
        ],
        capsys,
    )
    assert "window" in err


def test_module_entry_point_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "marl_alloc.forecast",
            "train",
            "--workload",
            "series",
            "--series",
            str(tmp_path / "none.csv"),
            "--column",
            "x",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_google2011_workload_trains_and_evaluates(google_files, tmp_path):
    task_events, machine_events = google_files
    trace = ["--workload", "google2011", "--task-events", str(task_events)]
    trace += ["--machine-events", str(machine_events)]
    model, out = tmp_path / "m", tmp_path / "e"
    overrides = [*TINY_OVERRIDES, "train.ablations=[]"]
    assert main(["train", *trace, "--out", str(model), "--no-progress", *overrides]) == 0
    assert main(["evaluate", "--model", str(model), *trace, "--out", str(out), *NO_PEERS]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["series"] == "google2011" and metrics["resolution_s"] == 60
    assert metrics["groups"] == ["leaf_00", "leaf_01", "cluster"]
    assert metrics["targets"] == ["cpu", "mem"] and metrics["hybrid"]["mae"] >= 0
    assert metrics["seasonal_naive"] is None and "seasonal_naive" in metrics["skipped"]
