"""Trace rows are checked at the edge: finite, in range, in time order; lenient drops count."""

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from envs import WorkloadError
from envs.workloads import TraceWorkload, load_machines, load_tasks, load_vms
from envs.workloads.csv_input import rows_dropped
from envs.workloads.trace import TraceSource, load_task_table
from marl_alloc.floor.settings.env import TraceWorkloadConfig
from tests.deadline import deadline
from tests.envs.trace_files import (
    TASK_EVENTS,
    VMTABLE,
    task_event_line,
    write_gz,
    write_machine_events,
    write_task_events,
    write_vmtable,
)

PART_00001 = "google-2011/task_events-part-00001-of-00500.csv.gz"
CPU_REQUEST = 9  # column 10 of task_events


def with_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def test_the_reported_infinite_request_is_named_or_counted(shared_data, tmp_path):
    # The recipe: the first 3,000 rows of part 00001, both rows of task 354 of job
    # 6218406404 (evicted, then resubmitted) with an infinite CPU request.
    with gzip.open(shared_data / PART_00001, "rt") as handle:
        lines = [next(handle).rstrip("\n") for _ in range(3000)]
    edited = [i for i, line in enumerate(lines) if line.split(",")[2:4] == ["6218406404", "354"]]
    assert len(edited) == 2
    for i in edited:
        lines[i] = with_field(lines[i], CPU_REQUEST, "inf")
    path = write_gz(tmp_path / "te.csv.gz", lines)
    with pytest.raises(
        WorkloadError, match=rf"te\.csv\.gz, row {edited[0] + 1}: column 'cpu_request' is inf"
    ) as info:
        load_tasks([path])
    assert "\n" not in str(info.value)
    lenient = load_tasks([path], lenient=True)
    assert rows_dropped(lenient) == 2
    assert np.isfinite(lenient.column("cpu").to_numpy()).all()
    assert (
        354
        not in lenient.filter(pa.compute.equal(lenient["job_id"], 6218406404))[
            "task_index"
        ].to_pylist()
    )


@pytest.mark.parametrize("value", ["inf", "1e308", "nan", "NaN", "-0.1", "1.5", "-inf"])
def test_a_bad_request_is_a_one_line_error_or_a_counted_drop(tmp_path, value):
    lines = [task_event_line(*row) for row in TASK_EVENTS]
    lines[2] = with_field(lines[2], CPU_REQUEST, value)  # the SUBMIT of job 2's task 0
    path = write_gz(tmp_path / "te.csv.gz", lines)
    with pytest.raises(WorkloadError, match=r"row 3: column 'cpu_request' is .*not a finite"):
        load_tasks([path])
    table = load_tasks([path], lenient=True)
    assert rows_dropped(table) == 1
    assert (2, 0) not in zip(
        table["job_id"].to_pylist(), table["task_index"].to_pylist(), strict=True
    )


def test_a_timestamp_going_back_is_named_or_counted_not_resorted(tmp_path):
    lines = [task_event_line(*row) for row in TASK_EVENTS]
    lines[4] = with_field(lines[4], 0, "1")  # 1 us: earlier than the row above
    path = write_gz(tmp_path / "te.csv.gz", lines)
    with pytest.raises(WorkloadError, match=r"row 5: column 'timestamp' goes back in time"):
        load_tasks([path])
    assert rows_dropped(load_tasks([path], lenient=True)) == 1


def test_machine_capacities_and_order_are_checked(tmp_path):
    rows = [(0, 5, 0, "0.5", "inf"), (0, 6, 0, "1", "1"), (100, 7, 0, "0.5", "0.5")]
    path = write_machine_events(tmp_path / "me.csv.gz", rows)
    with pytest.raises(WorkloadError, match=r"me\.csv\.gz, row 1: column 'mem' is inf"):
        load_machines(path)
    assert rows_dropped(load_machines(path, lenient=True)) == 1
    rows = [(100, 5, 0, "0.5", "0.5"), (0, 6, 0, "1", "1")]
    path = write_machine_events(tmp_path / "back.csv.gz", rows)
    with pytest.raises(WorkloadError, match="row 2: column 'timestamp' goes back"):
        load_machines(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (6, "inf", "column 'avg_cpu' is inf"),
        (3, "-5", "column 'created_s' is -5"),
        (9, "128", "column 'core_bucket' asks for 128, more than one host's 64"),
        (10, "lots", "column 'memory_bucket' holds 'lots', not a positive size"),
    ],
)
def test_azure_rows_are_checked(tmp_path, field, value, message):
    rows = [list(row) for row in VMTABLE]
    rows[1][field] = value
    path = write_vmtable(tmp_path / "vmtable.csv", [tuple(r) for r in rows])
    with pytest.raises(WorkloadError, match=rf"vmtable\.csv, row 2: {message}"):
        load_vms(path)
    table = load_vms(path, lenient=True)
    assert rows_dropped(table) == 1 and table.num_rows == len(VMTABLE) - 1


def test_prepared_parquet_with_an_infinite_request_is_named(tmp_path):
    table = load_tasks([write_task_events(tmp_path / "te.csv.gz")])
    cpu = table["cpu"].to_numpy().copy()
    cpu[1] = np.inf
    pq.write_table(table.set_column(1, "cpu", pa.array(cpu)), tmp_path / "tasks.parquet")
    with pytest.raises(WorkloadError, match=r"tasks\.parquet, row 2: column 'cpu' is inf"):
        load_task_table("google2011", (str(tmp_path / "tasks.parquet"),), 0, 64.0, 256.0)


def test_a_vanishing_sample_fraction_is_a_setting_error(tmp_path):
    tasks = str(write_task_events(tmp_path / "te.csv.gz"))
    tiny = TraceWorkload.from_config(TraceWorkloadConfig(tasks=(tasks,), sample_fraction=1e-12))
    with pytest.raises(WorkloadError, match=r"gives 3e-12 arrivals per pass.*sample_fraction"):
        tiny.open(np.random.default_rng(0), 0.0, None, total_cpu=1.0)


def test_take_gives_up_instead_of_looping_forever(tmp_path):
    tasks = str(write_task_events(tmp_path / "te.csv.gz"))
    workload = TraceWorkload.from_config(TraceWorkloadConfig(tasks=(tasks,), sample_fraction=1.0))
    source = TraceSource(workload, np.random.default_rng(0), 0.0, None, fraction=1e-12)
    with deadline(20), pytest.raises(WorkloadError, match="drew no arrival"):
        source.take(10)


@pytest.mark.parametrize("value", ["0\x1f", "\u0663"])
def test_a_number_with_a_stray_character_is_named_not_a_crash(tmp_path, value):
    # Python's \d and \s match these (a control character, an Arabic-Indic 3); Arrow does not.
    lines = [task_event_line(*row) for row in TASK_EVENTS]
    lines[2] = with_field(lines[2], 8, value)  # the scheduling class, an integer column
    path = tmp_path / "te.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(WorkloadError, match=r"row 3: column '\w+' has non-numeric value") as info:
        load_tasks([path])
    assert "\n" not in str(info.value)
    assert rows_dropped(load_tasks([path], lenient=True)) == 1
