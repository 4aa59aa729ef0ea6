import numpy as np
import pyarrow as pa
import pytest

from envs import WorkloadError
from envs.workloads import load_machines, load_tasks
from envs.workloads.csv_input import rows_dropped
from tests.envs.trace_files import (
    TASK_EVENTS,
    task_event_line,
    write_gz,
    write_machine_events,
    write_task_events,
)

GOOGLE = "google-2011"


def by_key(table: pa.Table) -> dict[tuple[int, int], dict]:
    rows = table.to_pylist()
    return {(r["job_id"], r["task_index"]): r for r in rows}


def test_tasks_from_task_events(tmp_path):
    table = load_tasks([write_task_events(tmp_path / "te.csv.gz")], seed=0)
    assert table.schema.field("submit_s").type == pa.float64()
    assert table.schema.field("cpu").type == pa.float32()
    assert table.schema.field("duration_s").type == pa.float32()
    tasks = by_key(table)
    assert set(tasks) == {(1, 0), (2, 0), (2, 1), (3, 0)}
    assert tasks[(2, 0)]["submit_s"] == 700 and tasks[(2, 0)]["duration_s"] == 300
    assert tasks[(2, 0)]["duration_observed"] and tasks[(2, 0)]["priority"] == 0
    # first non-empty request; run time from the first SCHEDULE to the next EVICT
    assert tasks[(2, 1)]["cpu"] == pytest.approx(0.04) and tasks[(2, 1)]["duration_s"] == 600
    # pre-window and never-scheduled tasks get run times drawn from the observed ones
    assert tasks[(1, 0)]["submit_s"] == 0 and not tasks[(1, 0)]["duration_observed"]
    assert tasks[(3, 0)]["duration_s"] in (300, 600)
    assert table.column("submit_s").to_pylist() == sorted(table.column("submit_s").to_pylist())


def test_parts_are_read_together_and_draws_are_seeded(tmp_path):
    first = write_task_events(tmp_path / "a.csv.gz", TASK_EVENTS[:8])
    second = write_task_events(tmp_path / "b.csv.gz", TASK_EVENTS[8:])
    split = load_tasks([second, first], seed=3)
    whole = load_tasks(write_task_events(tmp_path / "all.csv.gz"), seed=3)
    assert split.equals(whole)


def test_malformed_rows_name_file_and_row(tmp_path):
    lines = [task_event_line(*row) for row in TASK_EVENTS[:3]]
    lines.insert(2, "123,,7,0")
    path = write_gz(tmp_path / "bad.csv.gz", lines)
    with pytest.raises(WorkloadError, match=r"bad\.csv\.gz, row 3: expected 13 columns") as info:
        load_tasks([path])
    assert "\n" not in str(info.value)
    lines[2] = task_event_line(5, 2, "x", 0, 0, "0.1", "0.1")
    path = write_gz(tmp_path / "bad2.csv.gz", lines)
    with pytest.raises(WorkloadError, match=r"row 3: column 'task_index'"):
        load_tasks([path])
    with pytest.raises(WorkloadError, match="does not exist"):
        load_tasks([tmp_path / "missing.csv.gz"])


def test_machines_last_known_capacity(tmp_path):
    path = write_machine_events(tmp_path / "me.csv.gz")
    table = load_machines(path)
    assert table.column_names == ["machine_id", "cpu", "mem", "added_s", "removed_s"]
    machines = {r["machine_id"]: (r["cpu"], r["mem"]) for r in table.to_pylist()}
    assert machines == {5: (0.5, 0.5), 7: (0.5, 0.5)}
    # with the removed ones: machine 6 left at 200 s
    every = {r["machine_id"]: r for r in load_machines(path, include_removed=True).to_pylist()}
    assert set(every) == {5, 6, 7}
    assert every[6]["removed_s"] == 200 and every[5]["removed_s"] == float("inf")


def test_real_trace_parts(shared_data):
    folder = shared_data / GOOGLE
    part = folder / "task_events-part-00001-of-00500.csv.gz"
    machines_file = folder / "machine_events-part-00000-of-00001.csv.gz"
    if not part.is_file() or not machines_file.is_file():
        pytest.skip("Google 2011 files are not in ../shared/data")
    tasks = load_tasks([part])
    assert tasks.num_rows > 10_000
    submit = tasks.column("submit_s").to_numpy()
    assert submit.min() > 5_000 and submit.max() < 11_000
    cpu = tasks.column("cpu").to_numpy()
    assert (cpu > 0).all() and (cpu <= 1).all()
    assert (tasks.column("duration_s").to_numpy() >= 1).all()
    machines = load_machines(machines_file)
    assert 10_000 < machines.num_rows < 13_000
    assert np.isclose(machines.column("cpu").to_numpy().max(), 1.0)


def test_truncated_gzip_is_named_strictly_and_read_leniently(tmp_path):
    path = write_task_events(tmp_path / "whole.csv.gz")
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[:-30])  # the stream's tail (and CRC) is gone
    with pytest.raises(WorkloadError, match=r"cut\.csv\.gz, row \d+: truncated gzip") as info:
        load_tasks([cut])
    assert "\n" not in str(info.value) and "--lenient" in str(info.value)
    table = load_tasks([cut], lenient=True)
    assert rows_dropped(table) == 1 and table.num_rows >= 3


def test_lenient_skips_and_counts_malformed_rows(tmp_path):
    lines = [task_event_line(*row) for row in TASK_EVENTS]
    lines.insert(2, "123,,7,0")  # too few columns
    lines.insert(5, task_event_line(5, 2, "x", 0, 0, "0.1", "0.1"))  # non-numeric task index
    lines.insert(7, task_event_line(6, "", 0, 0, 0, "0.1", "0.1"))  # empty job id
    path = write_gz(tmp_path / "bad.csv.gz", lines)
    with pytest.raises(WorkloadError, match=r"bad\.csv\.gz, row 3"):
        load_tasks([path])
    table = load_tasks([path], lenient=True)
    assert rows_dropped(table) == 3
    assert table.equals(load_tasks([write_task_events(tmp_path / "good.csv.gz")]))


def test_missing_column_and_empty_mandatory_field_name_the_row(tmp_path):
    short = [",".join(task_event_line(*row).split(",")[:12]) for row in TASK_EVENTS]
    with pytest.raises(WorkloadError, match=r"short\.csv\.gz, row 1: expected 13 columns, got 12"):
        load_tasks([write_gz(tmp_path / "short.csv.gz", short)])
    lines = [task_event_line(*row) for row in TASK_EVENTS]
    lines[4] = task_event_line(1010, "", 0, 4, 0, "", "")
    with pytest.raises(WorkloadError, match=r"row 5: empty 'job_id' field"):
        load_tasks([write_gz(tmp_path / "empty.csv.gz", lines)])
    machines = write_gz(tmp_path / "me.csv.gz", ["0,5,0,p,0.5,0.5", ",6,0,p,1,1"])
    with pytest.raises(WorkloadError, match=r"me\.csv\.gz, row 2: empty 'timestamp'"):
        load_machines(machines)
    assert rows_dropped(load_machines(machines, lenient=True)) == 1


def test_every_task_carries_its_owner_as_the_same_id_in_every_load(tmp_path):
    path = write_task_events(tmp_path / "task_events.csv.gz")
    first, again = load_tasks([path]), load_tasks([path])
    owner = first.column("owner").to_numpy()
    assert (owner != 0).all() and len(set(owner.tolist())) == 1  # one user, "userhash"
    np.testing.assert_array_equal(owner, again.column("owner").to_numpy())
