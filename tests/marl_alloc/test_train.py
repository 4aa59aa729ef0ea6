"""End to end: train (local and on Ray), checkpoint, restore with RLlib, evaluate."""

import json
import subprocess
import sys

import pytest
import torch

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy.checkpoint import load_policy
from marl_alloc.train import run_training
from tests.marl_alloc.tiny_run import TINY_RUN

SMALL = [*TINY_RUN, "training.total_env_steps=1500", "env.episode_tasks=60"]
METRIC_KEYS = {
    "tasks_total",
    "tasks_placed",
    "tasks_rejected",
    "tasks_deferred",
    "tasks_pending",
    "sla_violation_rate",
    "energy_kwh",
    "carbon_kg",
    "mean_utilization",
    "decision_latency_ms_p50",
    "decision_latency_ms_p99",
}


@pytest.fixture(scope="module")
def local_checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("local_run")
    settings = compose_settings([*SMALL, "training.local=true"])
    return run_training(settings, run_dir)


def test_local_training_learns_something_and_saves_an_rllib_checkpoint(local_checkpoint):
    from ray.rllib.algorithms.algorithm import Algorithm

    run_dir = local_checkpoint.parent
    rows = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] >= 1500
    assert rows[-1]["updates"] > 0
    assert (run_dir / "curves.png").stat().st_size > 0
    trained, _ = load_policy(local_checkpoint)
    algo = Algorithm.from_checkpoint(str(local_checkpoint))
    try:
        for level in ("cluster", "rack", "leaf"):
            restored = algo.get_module(level).state_dict()
            for name, tensor in trained[level].state_dict().items():
                assert torch.equal(restored[name], tensor), f"{level}.{name} not the trained one"
    finally:
        algo.stop()


def _evaluate(argv):
    from marl_alloc.evaluate import main

    return main(argv)


def test_checkpoint_evaluates_against_every_baseline(local_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["--checkpoint", str(local_checkpoint), "--episodes", "1", "--out", str(out)]
    assert _evaluate([*argv, "--episode-tasks", "80"]) == 0
    printed = capsys.readouterr()
    table = printed.out.splitlines()
    # Progress on stderr, one line per policy as it starts; the comparison table on stdout.
    assert "[1/8] checkpoint" in printed.err and "[8/8]" in printed.err
    assert table[0].split()[:3] == ["policy", "total", "cost"]
    assert {line.split()[0] for line in table[1:-1]} >= {"checkpoint", "best-fit", "pabfd"}
    assert table[-1] == f"metrics: {(out / 'metrics.json').resolve()}"
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    assert set(metrics["baselines"]) >= {"random", "best-fit", "first-fit", "worst-fit", "pabfd"}
    for row in [metrics, *metrics["baselines"].values()]:
        assert set(row) >= METRIC_KEYS
        counted = sum(row[k] for k in ("tasks_placed", "tasks_rejected", "tasks_deferred"))
        assert counted + row["tasks_pending"] == row["tasks_total"] > 0


def test_heuristic_evaluation_needs_no_checkpoint(tmp_path):
    argv = ["--policy", "best-fit", "--episodes", "1", "--episode-tasks", "80"]
    assert _evaluate([*argv, "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    assert "baselines" not in metrics
    assert metrics["energy_kwh"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["missing", "corrupt", "corrupt weights", "corrupt settings", "other layout"]
)
def test_bad_checkpoint_is_one_line_error_and_exit_2(local_checkpoint, tmp_path, kind):
    import pickle
    import shutil

    from omegaconf import OmegaConf

    checkpoint = tmp_path / "ckpt"
    if kind != "missing":
        shutil.copytree(local_checkpoint, checkpoint)
    if kind == "corrupt":
        for state in checkpoint.rglob("module_state*"):
            state.write_bytes(b"not a checkpoint")
    if kind == "corrupt weights":
        # 200 bytes inside the largest weight array: still a loadable pickle, with NaN weights.
        state = checkpoint / "learner_group/learner/rl_module/leaf/module_state.pkl"
        data = bytearray(state.read_bytes())
        weights = max(pickle.loads(data).values(), key=lambda array: array.nbytes)
        start = data.find(weights.tobytes())
        data[start : start + 200] = b"\xff" * 200
        state.write_bytes(bytes(data))
    if kind == "corrupt settings":
        (checkpoint / "marl_alloc.yaml").write_text("env: {topology: [\n")
    if kind == "other layout":
        # Observations the policy was not built for (as after new features): retrain, not a
        # shape error from inside the network.
        config = OmegaConf.load(checkpoint / "marl_alloc.yaml")
        config.env.forecast_horizon = int(config.env.forecast_horizon) + 2
        OmegaConf.save(config, checkpoint / "marl_alloc.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "marl_alloc.evaluate", "--checkpoint", str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and str(checkpoint) in result.stderr
    if kind == "other layout":
        assert "retrain" in result.stderr
    if kind.startswith("corrupt"):
        assert "is corrupt" in result.stderr


def test_wrong_override_is_hydra_error_not_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "marl_alloc.train", "training.no_such_key=1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "training.no_such_key" in result.stderr


@pytest.mark.slow
def test_a_local_run_starts_no_ray_and_logs_nothing_a_user_cannot_act_on(tmp_path):
    overrides = [*SMALL, "training.local=true", "training.total_env_steps=300"]
    result = subprocess.run(
        [sys.executable, "-m", "marl_alloc.train", *overrides],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("checkpoint: ")
    # Only the progress bar: no warning, no deprecation, no Ray (dashboard) start.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(line.lstrip("\r").startswith("[") for line in lines), result.stderr


@pytest.mark.slow
def test_a_bad_trace_is_one_line_and_exit_2_not_a_traceback(tmp_path):
    # A WorkloadError: an error of the env, caught like any other UserError.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "marl_alloc.train",
            "env=google2011",
            f"env.workload.tasks=[{tmp_path / 'missing.csv.gz'}]",
            "env.workload.machines=null",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "missing.csv.gz" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.ray
def test_distributed_training_on_ray(ray_session, tmp_path):
    settings = compose_settings(SMALL)
    checkpoint = run_training(settings, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert rows[-1]["env_steps"] >= 1500
    assert rows[-1]["updates"] > 0
    assert (checkpoint / "learner_group").is_dir()


def test_a_run_dir_holding_a_run_is_refused_without_resume(tmp_path):
    (tmp_path / ".hydra").mkdir()  # Hydra's own files are no previous run
    (tmp_path / "progress.jsonl").write_text('{"env_steps": 100}\n')
    settings = compose_settings([*SMALL, "training.local=true"])
    with pytest.raises(UserError, match=f"resume={tmp_path}.*hydra.run.dir="):
        run_training(settings, tmp_path)
    assert (tmp_path / "progress.jsonl").read_text() == '{"env_steps": 100}\n'


def test_evaluate_out_pointing_at_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "metrics").write_text("")
    argv = ["--policy", "best-fit", "--episodes", "1", "--out", str(tmp_path / "metrics")]
    assert _evaluate(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and err.count("\n") == 1 and "is a file" in err


def test_evaluate_refuses_topology_overrides_a_checkpoint_cannot_act_in(
    local_checkpoint, tmp_path, capsys
):
    argv = ["--checkpoint", str(local_checkpoint), "--episodes", "1", "--out", str(tmp_path)]
    assert _evaluate([*argv, "env.topology.hosts_per_leaf=4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: env.topology.hosts_per_leaf=4:") and err.count("\n") == 1
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.slow
def test_a_run_that_made_no_update_warns_as_it_saves(tmp_path, capsys):
    settings = compose_settings(
        [*SMALL, "training.local=true", "training.total_env_steps=200"]
        + ["replay.min_size_to_sample=5000"]
    )
    run_training(settings, tmp_path)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: the run made 0 learner updates (its replay never")
    assert "replay.min_size_to_sample=5000" in warnings[0] and "initial weights" in warnings[0]
