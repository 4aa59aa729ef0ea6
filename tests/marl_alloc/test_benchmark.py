"""`python -m marl_alloc.benchmark`: its report files, resuming, bad input, and a checkpoint set
from a short local training scored against the heuristics."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from marl_alloc.benchmark import main
from marl_alloc.scoring import runner
from marl_alloc.scoring.summary import METRICS
from tests.envs.trace_files import write_cell_trace
from tests.marl_alloc.tiny_run import TINY_RUN

SMALL_TOPOLOGY = [
    "env.topology.racks_per_cluster=2",
    "env.topology.leaves_per_rack=2",
    "env.topology.hosts_per_leaf=4",
]
REPORT_KEYS = {"policies", "paired", "frontier", "settings"}


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    return write_cell_trace(tmp_path_factory.mktemp("trace"), arrivals=400)


def bench_args(trace, out, *extra) -> list[str]:
    tasks, machines = trace
    return [
        "--workload",
        "google2011",
        "--task-events",
        str(tasks),
        "--machine-events",
        str(machines),
        "--windows",
        "2",
        "--window-tasks",
        "30",
        "--loads",
        "0.8",
        "1.2",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


@pytest.mark.slow
def test_heuristics_on_two_workers_write_the_three_files(trace, tmp_path):
    policies = ["--policies", "pabfd@1,2", "best-fit@1", "random", "--workers", "2"]
    assert main(bench_args(trace, tmp_path, *policies)) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report) == REPORT_KEYS
    assert set(report["policies"]) == {"pabfd@1", "pabfd@2", "best-fit@1", "random"}
    for stats in report["policies"].values():
        assert set(stats) == set(METRICS)
        for stat in stats.values():
            assert set(stat) == {"mean", "ci95"} and stat["ci95"][0] <= stat["mean"]
    assert report["paired"] is None and report["frontier"] is None
    settings = report["settings"]
    assert settings["env"]["knowledge"]["durations"] == "estimate"
    assert [w["index"] for w in settings["windows"]] == [0, 1] and settings["loads"] == [0.8, 1.2]
    assert settings["code_version"] and settings["episodes"] == {"run": 16, "kept": 0}
    assert "| pabfd@1 |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_a_rerun_skips_finished_episodes_and_reruns_changed_ones(trace, tmp_path, monkeypatch):
    ran = []
    score = runner.score_episode
    monkeypatch.setattr(runner, "score_episode", lambda e: ran.append(e) or score(e))
    args = bench_args(trace, tmp_path, "--policies", "pabfd@1,2", "--workers", "1")
    assert main(args) == 0 and len(ran) == 8  # 2 policies x 2 windows x 2 loads
    first = json.loads((tmp_path / "report.json").read_text())
    ran.clear()
    assert main(args) == 0 and ran == []
    again = json.loads((tmp_path / "report.json").read_text())
    assert again["policies"] == first["policies"]
    assert again["settings"]["episodes"] == {"run": 0, "kept": 8}
    next((tmp_path / "episodes").glob("w01-load1.2-pabfd@2.json")).unlink()
    assert main(args) == 0 and [e.file_name() for e in ran] == ["w01-load1.2-pabfd@2.json"]
    ran.clear()
    assert main([*args, "env.usage.sigma=0.4"]) == 0 and len(ran) == 8


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--policies", "pabfd@1", "nope"], "--policies: unknown policy 'nope'"),
        (["--policies", "pabfd@1,,2"], "--policies: packing target in 'pabfd@'"),
        (["--policies", "random@2"], "--policies: policy 'random' takes no packing target"),
        (["--windows", "20", "--window-tasks", "5000"], "--windows 20 x --window-tasks 5000"),
        (["--loads", "0.8", "0"], "--loads must be > 0"),
        (["--loads", "-1"], "--loads must be > 0"),
        (["--workers", "0"], "--workers must be > 0"),
    ],
)
def test_bad_input_is_one_line_naming_the_argument(trace, tmp_path, capsys, extra, fragment):
    assert main(bench_args(trace, tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err


def test_bad_input_is_not_a_traceback(trace, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "marl_alloc.benchmark",
            *bench_args(trace, tmp_path, "--loads", "0"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --loads")


@pytest.fixture(scope="module")
def checkpoint(trace, tmp_path_factory):
    from marl_alloc.floor.settings.compose import compose_settings
    from marl_alloc.train import run_training

    tasks, machines = trace
    settings = compose_settings(
        [
            "env=google2011",
            f"env.workload.tasks=[{tasks}]",
            f"env.workload.machines={machines}",
            *SMALL_TOPOLOGY,
            *TINY_RUN,
            "env.episode_tasks=60",
            "training.total_env_steps=600",
            "training.local=true",
        ]
    )
    return run_training(settings, tmp_path_factory.mktemp("run"))


@pytest.mark.slow
def test_a_checkpoint_set_is_paired_with_the_best_heuristic(
    trace, checkpoint, tmp_path, monkeypatch
):
    policies = ["--policies", "pabfd@1,2,3", "best-fit@1", "--workers", "1"]
    args = bench_args(trace, tmp_path, "--checkpoints", str(checkpoint), str(checkpoint), *policies)
    assert main(args) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report) == REPORT_KEYS and "policy" in report["policies"]
    paired = report["paired"]
    assert set(paired) == {"best_heuristic", "mean_ratio", "ci95", "per_checkpoint"}
    assert len(paired["per_checkpoint"]) == len(report["settings"]["checkpoints"])
    assert paired["best_heuristic"] in report["policies"] and paired["mean_ratio"] > 0
    assert set(report["frontier"]) == {
        "sla_reduction_at_equal_energy",
        "energy_reduction_at_equal_sla",
    }
    for stat in report["frontier"].values():
        assert set(stat) == {"mean", "ci95"}
    settings = report["settings"]
    # Scored in the topology the checkpoints were trained in, heuristics too.
    assert settings["env"]["topology"]["hosts_per_leaf"] == 4
    assert len(settings["checkpoints"]) == 2 and settings["episodes"]["run"] == 4 * 4 + 2 * 4
    assert "against the best heuristic" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "frontier.png").stat().st_size > 0
    # A checkpoint saved again (retrained in place) is scored again; the heuristics are kept.
    ran = []
    score = runner.score_episode
    monkeypatch.setattr(runner, "score_episode", lambda e: ran.append(e.label) or score(e))
    settings_file = checkpoint / "marl_alloc.yaml"
    stat = settings_file.stat()
    os.utime(settings_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert main(args) == 0 and ran == ["policy"] * 8


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["missing", "other layout", "other knowledge"])
def test_a_checkpoint_that_cannot_join_the_set_is_refused(
    trace, checkpoint, tmp_path, capsys, kind
):
    from omegaconf import OmegaConf

    other = tmp_path / "other"
    if kind != "missing":
        shutil.copytree(checkpoint, other)
        config = OmegaConf.load(other / "marl_alloc.yaml")
        if kind == "other layout":
            config.env.forecast_horizon = int(config.env.forecast_horizon) + 2
        else:
            config.env.knowledge.durations = "oracle"
        OmegaConf.save(config, other / "marl_alloc.yaml")
    args = bench_args(trace, tmp_path / "out", "--checkpoints", str(checkpoint), str(other))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --checkpoints: ") and err.count("\n") == 1
    assert str(other) in err
    why = {"missing": "does not exist", "other layout": "retrain"}
    assert why.get(kind, "env.knowledge.durations=oracle") in err
