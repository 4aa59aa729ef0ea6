"""Fuzz every trace and signal input: each loads, or is one line naming the problem; no hang."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from envs import WorkloadError
from envs.carbon import read_carbon_csv
from envs.workloads import TraceWorkload, load_machines, load_tasks, load_vms
from envs.workloads.csv_input import rows_dropped
from marl_alloc.floor.settings.env import CarbonConfig, TraceWorkloadConfig
from tests.envs.trace_files import (
    MACHINE_EVENTS,
    TASK_EVENTS,
    VMTABLE,
    task_event_line,
    write_task_events,
)
from tests.fuzz import FUZZ, loads_or_one_line_error, mutations, perturbed, rows, write_text

US = 1_000_000
TASK_LINES = [task_event_line(*row) for row in TASK_EVENTS]
MACHINE_LINES = [f"{t * US},{m},{e},platform,{c},{mem}" for t, m, e, c, mem in MACHINE_EVENTS]
VM_LINES = [",".join(str(v) for v in row) for row in VMTABLE]
CARBON_LINES = [f"2023-06-08T00:{m:02d}:00Z,{400 + m}" for m in range(0, 60, 5)]


def _task_field(i: int) -> st.SearchStrategy[str]:
    # time, missing info, job, task, machine, event, user, class, priority, cpu, mem, disk, diff
    valid = {
        0: st.integers(0, 4000).map(lambda t: str(t * US)),
        2: st.integers(1, 4).map(str),
        3: st.integers(0, 2).map(str),
        4: st.sampled_from(["", "5", "6"]),
        5: st.integers(0, 8).map(str),
        6: st.just("user"),
        7: st.integers(0, 3).map(str),
        8: st.integers(0, 11).map(str),
        9: st.sampled_from(["", "0.05", "0.5", "0"]),
        10: st.sampled_from(["", "0.02", "0.3"]),
    }
    return valid.get(i, st.just(""))


def _machine_field(i: int) -> st.SearchStrategy[str]:
    valid = {
        0: st.integers(0, 4000).map(lambda t: str(t * US)),
        1: st.integers(1, 5).map(str),
        2: st.integers(0, 2).map(str),
        3: st.just("platform"),
        4: st.sampled_from(["", "0.5", "1"]),
        5: st.sampled_from(["", "0.25", "1"]),
    }
    return valid[i]


def _vm_field(i: int) -> st.SearchStrategy[str]:
    valid = {
        0: st.just("vm"),
        1: st.just("sub"),
        2: st.sampled_from(["dep1", "dep2"]),
        3: st.integers(0, 3000).map(str),
        4: st.integers(3000, 9000).map(str),
        5: st.sampled_from(["90.0", "50"]),
        6: st.sampled_from(["20.0", "5"]),
        7: st.sampled_from(["70.0", "40"]),
        8: st.sampled_from(["Interactive", "Delay-insensitive", "Unknown"]),
        9: st.sampled_from(["2", "4", ">24"]),
        10: st.sampled_from(["4", "8", ">64"]),
    }
    return valid[i]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _check_tasks(table) -> None:
    """What a loaded task table promises: finite requests in [0, 1], counted drops."""
    for name in ("cpu", "mem"):
        values = table.column(name).to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    assert rows_dropped(table) >= 0


@FUZZ
@given(
    lines=st.one_of(perturbed(TASK_LINES), rows(_task_field, 13)),
    compress=st.booleans(),
    lenient=st.booleans(),
)
def test_task_events_rows(folder, lines, compress, lenient):
    path = write_text(folder / "task_events.csv.gz", lines, compress)
    table = loads_or_one_line_error(lambda: load_tasks([path], lenient=lenient), (WorkloadError,))
    if table is not None:
        _check_tasks(table)
        loads_or_one_line_error(lambda: _replay(table), (WorkloadError,))


def _replay(table) -> None:
    """A datacenter's first arrivals from the table, as training draws them."""
    workload = TraceWorkload(TraceWorkloadConfig(tasks=("fuzz",)), table, None)
    workload.open(np.random.default_rng(0), 0.0, None, total_cpu=64.0).take(50)


@FUZZ
@given(
    lines=st.one_of(perturbed(MACHINE_LINES), rows(_machine_field, 6)),
    compress=st.booleans(),
    lenient=st.booleans(),
)
def test_machine_events_rows(folder, lines, compress, lenient):
    path = write_text(folder / "machine_events.csv.gz", lines, compress)
    table = loads_or_one_line_error(lambda: load_machines(path, lenient=lenient), (WorkloadError,))
    if table is not None:
        assert np.isfinite(table.column("cpu").to_numpy()).all()


@FUZZ
@given(lines=st.one_of(perturbed(VM_LINES), rows(_vm_field, 11)), lenient=st.booleans())
def test_azure_vmtable_rows(folder, lines, lenient):
    path = write_text(folder / "vmtable.csv", lines, compress=False)
    table = loads_or_one_line_error(lambda: load_vms(path, lenient=lenient), (WorkloadError,))
    if table is not None:
        _check_tasks(table)


@FUZZ
@given(data=st.binary(max_size=200).flatmap(mutations), lenient=st.booleans())
def test_gzip_bytes(folder, data, lenient):
    path = folder / "bytes.csv.gz"
    path.write_bytes(data)
    loads_or_one_line_error(lambda: load_tasks([path], lenient=lenient), (WorkloadError,))


def _carbon_field(i: int) -> st.SearchStrategy[str]:
    if i == 0:
        return st.integers(0, 50).map(lambda m: f"2023-06-08T{m // 60:02d}:{m % 60:02d}:00Z")
    return st.sampled_from(["400", "380.5", "0"])


@FUZZ
@given(
    lines=st.one_of(perturbed(CARBON_LINES), rows(_carbon_field, 2)),
    header=st.sampled_from(["timestamp,MOER", "ÿ,MOER", "", "a"]),
)
def test_carbon_csv_lines(folder, lines, header):
    path = write_text(folder / "carbon.csv", [header, *lines], compress=False)
    read_carbon_csv.cache_clear()  # the reader caches by config, and the file changes
    config = CarbonConfig(kind="csv", csv=str(path))
    series = loads_or_one_line_error(lambda: read_carbon_csv(config), (WorkloadError,))
    if series is not None:
        assert np.isfinite(series.g_per_kwh).all() and (series.g_per_kwh >= 0).all()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> bytes:
    """A valid prepared tasks.parquet, as bytes."""
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("prepared")
    pq.write_table(load_tasks([write_task_events(folder / "te.csv.gz")]), folder / "t.parquet")
    return (folder / "t.parquet").read_bytes()


@FUZZ
@given(data=st.data(), lenient=st.booleans())
def test_prepared_parquet_bytes(folder, prepared, data, lenient):
    from envs.workloads.trace import load_task_table

    path = folder / "tasks.parquet"
    path.write_bytes(data.draw(mutations(prepared)))
    load_task_table.cache_clear()  # cached by path, and the file changes

    def load():
        return load_task_table("google2011", (str(path),), 0, 64.0, 256.0, lenient)

    table = loads_or_one_line_error(load, (WorkloadError,))
    if table is not None:
        _check_tasks(table)
