"""A run stopped by Ctrl-C or SIGTERM: one line naming its last checkpoint, then a resume that
gets past the progress line a kill tore."""

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.marl_alloc.tiny_run import TINY_RUN

LONG_LOCAL = [*TINY_RUN, "training.local=true", "training.total_env_steps=1000000"]


def _train(*overrides: str, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "marl_alloc.train", *overrides],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def _wait_for(path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"no {path} after {timeout_s} s"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_names_its_checkpoint_and_resumes_past_a_torn_progress_line(tmp_path, stop):
    run_dir = tmp_path / "run"
    run = _train(
        *LONG_LOCAL, "training.checkpoint_every_s=1", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    _wait_for(run_dir / "checkpoint" / "checksums.sha256", timeout_s=120)
    run.send_signal(stop)
    stopped_at = time.monotonic()
    _, err = run.communicate(timeout=60)
    assert time.monotonic() - stopped_at < 20
    assert run.returncode == 128 + stop
    assert "Traceback" not in err
    name = signal.Signals(stop).name
    assert err.strip().splitlines()[-1] == (
        f"interrupted ({name}): last checkpoint {run_dir / 'checkpoint'}; "
        f"continue with resume={run_dir}"
    )

    # As a kill in the middle of writing a row leaves it.
    with (run_dir / "progress.jsonl").open("a") as progress:
        progress.write('{"env_steps": 12')
    resumed = subprocess.run(
        [sys.executable, "-m", "marl_alloc.train", f"resume={run_dir}"]
        + ["training.total_env_steps=3000"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    steps = [row["env_steps"] for row in rows]
    assert steps == sorted(steps) and steps[-1] >= 3000
