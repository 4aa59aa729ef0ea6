"""Faults: a run resumes with its counters and replay; training survives losing a node."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marl_alloc.floor.checksums import MANIFEST, verify_manifest, write_manifest
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import CONFIG_FILE
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.train import (
    latest_checkpoint,
    resumed_settings,
    run_paths,
    run_training,
    save_checkpoint,
)
from tests.conftest import PROJECT_ROOT
from tests.marl_alloc.apex.node_loss_run import TOTAL_ENV_STEPS
from tests.marl_alloc.tiny_run import TINY_RUN

SMALL_LOCAL = [*TINY_RUN, "training.local=true", "training.total_env_steps=800"]


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]


def _replay_size(run_dir) -> int:
    """Transitions in the run's replay snapshot (a shard restores it when it starts)."""
    from replay import PrioritizedShard

    settings, _ = run_paths(compose_settings(SMALL_LOCAL), run_dir)
    return sum(PrioritizedShard(settings.replay, 0).size().values())


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A finished local run of 800 env steps (its dir, with checkpoint/ and replay/)."""
    run_dir = tmp_path_factory.mktemp("run")
    run_training(compose_settings(SMALL_LOCAL), run_dir)
    return run_dir


@pytest.mark.slow
def test_resume_continues_the_run_with_its_counters_learner_and_replay(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    first = _rows(run_dir)
    settings = resumed_settings(str(run_dir), ["resume=x", "training.total_env_steps=1600"])
    assert settings.training.num_actors == 2  # the run's own settings, not the defaults
    size_before = _replay_size(run_dir)
    assert size_before > 0

    checkpoint = run_training(settings, tmp_path / "unused-hydra-dir")

    assert checkpoint == run_dir / "checkpoint"
    rows = _rows(run_dir)
    resumed = rows[len(first) :]
    assert resumed[0]["env_steps"] > first[-1]["env_steps"]  # counted on, not from zero
    assert resumed[0]["updates"] > first[-1]["updates"]
    assert rows[-1]["env_steps"] >= 1600
    # A replay started empty could hold at most the resumed part's transitions.
    assert _replay_size(run_dir) > rows[-1]["env_steps"] - first[-1]["env_steps"]


def test_resume_from_a_garbled_checkpoint_is_corrupt_before_anything_loads(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    state = run_dir / "checkpoint/learner_group/learner/rl_module/rack/module_state.pkl"
    data = bytearray(state.read_bytes())
    data[-400:-200] = bytes(200)
    state.write_bytes(bytes(data))
    settings = resumed_settings(str(run_dir), ["training.total_env_steps=1600"])
    with pytest.raises(UserError, match="is corrupt: .*rack/module_state.pkl does not match"):
        run_training(settings, tmp_path / "unused-hydra-dir")


def test_resume_that_changes_the_networks_shape_is_one_line(trained_run):
    with pytest.raises(UserError, match=r"env.topology.hosts_per_leaf \(\d+ -> 3\) changed"):
        resumed_settings(str(trained_run), ["env.topology.hosts_per_leaf=3"])


def test_resume_from_a_truncated_learner_state_without_checksums_is_corrupt(trained_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    (run_dir / "checkpoint" / MANIFEST).unlink()  # as saved before checksums
    state = run_dir / "checkpoint/learner_group/learner/state.pkl"
    state.write_bytes(state.read_bytes()[:500])
    settings = resumed_settings(str(run_dir), ["training.total_env_steps=1600"])
    with pytest.raises(UserError, match="is corrupt: cannot load it"):
        run_training(settings, tmp_path / "unused-hydra-dir")


def test_resume_with_a_damaged_progress_line_says_so_before_building_anything(
    trained_run, tmp_path, monkeypatch
):
    import marl_alloc.apex.builder

    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    rows = (run_dir / "progress.jsonl").read_text()
    (run_dir / "progress.jsonl").write_text("{not json\n" + rows)

    def build(*_):
        raise AssertionError("built the pipeline before reading the progress log")

    monkeypatch.setattr(marl_alloc.apex.builder, "build_apex_config", build)
    settings = resumed_settings(str(run_dir), ["training.total_env_steps=1600"])
    with pytest.raises(UserError, match="progress.jsonl, line 1: not a progress row"):
        run_training(settings, tmp_path / "unused-hydra-dir")


def test_resume_without_a_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        resumed_settings(str(tmp_path), [])


class _FakeAlgo:
    def __init__(self, fail: BaseException | None = None):
        self.fail = fail

    def save_to_path(self, path: str) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "state").write_text("half" if self.fail else "ok")
        if self.fail:
            raise self.fail
        write_manifest(Path(path))


@pytest.mark.parametrize("cut", [OSError("disk full"), KeyboardInterrupt()])
def test_a_save_cut_off_keeps_the_previous_checkpoint_whole(tmp_path, cut):
    checkpoint = tmp_path / "checkpoint"
    save_checkpoint(_FakeAlgo(), checkpoint, compose_settings(["seed=1"]))
    with pytest.raises(type(cut)):
        save_checkpoint(_FakeAlgo(fail=cut), checkpoint, compose_settings(["seed=2"]))
    assert latest_checkpoint(checkpoint) == checkpoint
    assert "seed: 1" in (checkpoint / CONFIG_FILE).read_text()
    verify_manifest(checkpoint)


def test_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    previous = tmp_path / "checkpoint.old"
    previous.mkdir()
    (previous / CONFIG_FILE).write_text("seed: 0\n")
    assert latest_checkpoint(tmp_path / "checkpoint") == previous


@pytest.mark.ray
def test_a_restarted_learner_resumes_from_the_runs_checkpoint(ray_session, trained_run):
    from learners.learner_actor import LearnerActor
    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.policy.checkpoint import load_policy

    ray = ray_session
    checkpoint = trained_run / "checkpoint"
    trained, settings = load_policy(checkpoint)
    config = build_apex_config(settings)
    learner = LearnerActor.options(num_cpus=0, max_restarts=1).remote(config, [], str(checkpoint))

    def assert_has_trained_weights():
        weights, _ = ray.get(learner.get_weights.options(max_task_retries=-1).remote())
        for level, state in weights.items():
            for name, tensor in trained[level].state_dict().items():
                assert np.array_equal(state[name], tensor.numpy()), f"{level}.{name}"

    assert_has_trained_weights()
    ray.kill(learner, no_restart=False)  # Ray builds it again: from the checkpoint, not scratch
    assert_has_trained_weights()
    ray.kill(learner)


@pytest.mark.ray
def test_training_survives_losing_a_worker_node(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.marl_alloc.apex.node_loss_run", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["actors_on_removed_node"], "the removed node held no Ape-X actor"
    assert report["env_steps"] >= TOTAL_ENV_STEPS
    assert report["removed_at_env_steps"] < TOTAL_ENV_STEPS
    assert report["nodes_alive"] == 2
