"""progress.jsonl survives interruption: torn last line, resume from an older checkpoint, NaN."""

import io
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl_alloc.floor.errors import UserError
from marl_alloc.training_log import TrainingLog, read_progress
from tests.fuzz import FIELD, FUZZ, loads_or_one_line_error


def strict_rows(path) -> list[dict]:
    """The file's rows as a strict JSON reader sees them (NaN and Infinity are errors)."""

    def reject(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return [json.loads(line, parse_constant=reject) for line in path.read_text().splitlines()]


def write_rows(run_dir, env_steps: list[int], tail: str = "") -> None:
    rows = [{"env_steps": s, "updates": s // 10, "time_s": s / 100} for s in env_steps]
    (run_dir / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def resumed_log(run_dir) -> TrainingLog:
    return TrainingLog(run_dir, 10_000, append=True, stream=io.StringIO())


def test_resume_drops_a_line_torn_by_a_kill(tmp_path):
    write_rows(tmp_path, [100, 200], tail='{"env_steps": 300, "upd')
    log = resumed_log(tmp_path)
    log.record(300, 30, {"reward_mean": 1.0})
    log.close()
    assert [row["env_steps"] for row in strict_rows(tmp_path / "progress.jsonl")] == [100, 200, 300]


def test_progress_stays_monotone_after_resuming_from_an_older_checkpoint(tmp_path):
    write_rows(tmp_path, [100, 200, 300, 400])  # the checkpoint was saved at 200
    log = resumed_log(tmp_path)
    log.record(250, 25, {})
    log.record(350, 35, {})
    log.close()
    rows = strict_rows(tmp_path / "progress.jsonl")
    assert [row["env_steps"] for row in rows] == [100, 200, 250, 350]
    times = [row["time_s"] for row in rows]
    assert times == sorted(times)


def test_rows_are_strict_json_with_non_finite_metrics_as_null(tmp_path):
    log = TrainingLog(tmp_path, 1000, stream=io.StringIO())
    log.record(100, 0, {"reward_mean": math.nan, "loss_leaf": math.inf, "sla": 0.5})
    log.close()
    (row,) = strict_rows(tmp_path / "progress.jsonl")
    assert row["reward_mean"] is None and row["loss_leaf"] is None and row["sla"] == 0.5


def test_a_damaged_line_before_the_end_is_one_line_error(tmp_path):
    write_rows(tmp_path, [100], tail='{"env_steps": 2\n{"env_steps": 300, "updates": 3}\n')
    with pytest.raises(UserError, match=r"progress\.jsonl, line 2: not a progress row") as info:
        resumed_log(tmp_path)
    assert "\n" not in str(info.value)


@FUZZ
@given(text=st.lists(st.one_of(st.just('{"env_steps": 5, "updates": 1}'), FIELD), max_size=6))
def test_any_progress_file_resumes_or_is_one_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("progress") / "progress.jsonl"
    path.write_text("\n".join(text), encoding="utf-8", errors="surrogatepass")
    rows = loads_or_one_line_error(lambda: read_progress(path), (UserError,))
    assert rows is None or all(isinstance(row["env_steps"], int) for row in rows)
