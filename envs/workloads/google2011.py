"""Google cluster-data 2011 (clusterdata-2011-2): raw `task_events` and `machine_events` readers.

`load_tasks` turns task events into one row per task: submit time (first SUBMIT; 0 for tasks
submitted before the trace window), CPU / memory request (first non-empty), run time from the
first SCHEDULE to the next FINISH / FAIL / KILL / EVICT / LOST, priority and scheduling class.
Run times the window does not show in full (never scheduled, scheduled before it, or still
running at its end) are drawn from the observed ones with a seeded RNG; `duration_observed`
tells which is which.
`load_machines` gives each machine's last known normalized capacity and when it was added and
removed. Both read strictly (a bad row is a one-line error naming file and row) unless lenient.
"""

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from envs.errors import WorkloadError
from envs.workloads.csv_input import (
    read_headerless_csv,
    require_values,
    rows_dropped,
    with_rows_dropped,
)

TASK_EVENT_COLUMNS = (
    "timestamp",
    "missing_info",
    "job_id",
    "task_index",
    "machine_id",
    "event_type",
    "user",
    "scheduling_class",
    "priority",
    "cpu_request",
    "mem_request",
    "disk_request",
    "different_machines",
)
TASK_EVENT_TYPES = {
    "timestamp": pa.int64(),
    "machine_id": pa.int64(),
    "job_id": pa.int64(),
    "task_index": pa.int32(),
    "event_type": pa.int8(),
    "scheduling_class": pa.int8(),
    "priority": pa.int8(),
    "cpu_request": pa.float32(),
    "mem_request": pa.float32(),
    "user": pa.string(),
}
MACHINE_EVENT_COLUMNS = ("timestamp", "machine_id", "event_type", "platform_id", "cpu", "mem")
MACHINE_EVENT_TYPES = {
    "timestamp": pa.int64(),
    "machine_id": pa.int64(),
    "event_type": pa.int8(),
    "cpu": pa.float32(),
    "mem": pa.float32(),
}
MANDATORY_TASK_FIELDS = ("timestamp", "job_id", "task_index", "event_type")
SUBMIT, SCHEDULE = 0, 1
TERMINAL_EVENTS = (2, 3, 4, 5, 6)  # EVICT, FAIL, FINISH, KILL, LOST
MACHINE_ADD, MACHINE_REMOVE = 0, 1
US_PER_S = 1e6


def load_tasks(
    task_event_paths: Sequence[str | Path] | str | Path, seed: int = 0, lenient: bool = False
) -> pa.Table:
    """One row per task from raw task_events csv.gz parts (read together, in any order).

    Columns: submit_s float64, cpu float32, mem float32, duration_s float32,
    duration_observed bool, priority int8, scheduling_class int8, job_id int64, task_index int32,
    scheduled_s float64 (first SCHEDULE; 0 = before the window, null = never), end_s float64
    (the run's terminal event, null = not in these files), machine_id int64 (of the first
    SCHEDULE, -1 if none), owner int64 (the user's hash as a stable id, 0 if none); sorted by
    submit_s. Tasks without a SUBMIT event or without requests
    are left out. Strict by default (see csv_input); `lenient` skips bad rows and counts them in
    the table's rows_dropped metadata.
    """
    paths = [task_event_paths] if isinstance(task_event_paths, str | Path) else task_event_paths
    if not paths:
        raise WorkloadError("no task_events files given; pass at least one csv.gz part")
    parts = []
    for path in paths:
        part = read_headerless_csv(path, TASK_EVENT_COLUMNS, TASK_EVENT_TYPES, lenient)
        parts.append(require_values(part, MANDATORY_TASK_FIELDS, path, lenient, "task_events"))
    dropped = sum(rows_dropped(part) for part in parts)
    events = pa.concat_tables([part.replace_schema_metadata(None) for part in parts])
    return with_rows_dropped(_tasks_from_events(events, np.random.default_rng(seed)), dropped)


def _column(table: pa.Table, name: str, fill: float) -> np.ndarray:
    return table.column(name).fill_null(fill).to_numpy()


def _nullable(values: np.ndarray) -> pa.Array:
    """float64 with nulls where values are not finite (never happened in these files)."""
    return pa.array(values, pa.float64(), mask=~np.isfinite(values))


def _tasks_from_events(events: pa.Table, rng: np.random.Generator) -> pa.Table:
    t = _column(events, "timestamp", 0) / US_PER_S
    job = _column(events, "job_id", 0)
    index = _column(events, "task_index", 0).astype(np.int64)
    kind = _column(events, "event_type", -1)
    # One sort key: (job, task) groups, then time, then event type (SUBMIT before SCHEDULE).
    task_key = np.unique(job * (1 << 20) + index, return_inverse=True)[1]
    order = np.lexsort((kind, t, task_key))
    t, kind = t[order], kind[order]
    key = task_key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(t)]))
    row = np.arange(len(t), dtype=np.float64)

    def first(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        return np.minimum.reduceat(np.where(where, values, np.inf), starts)

    submit = first(t, kind == SUBMIT)
    scheduled_row = first(row, kind == SCHEDULE)
    ever_scheduled = np.isfinite(scheduled_row)
    scheduled_at = np.where(ever_scheduled, scheduled_row, 0).astype(np.int64)
    scheduled = np.where(ever_scheduled, t[scheduled_at], np.inf)
    ended = first(t, np.isin(kind, TERMINAL_EVENTS) & (t >= scheduled[group]))
    machine_column = _column(events, "machine_id", -1)[order]
    machine = np.where(ever_scheduled, machine_column[scheduled_at], -1)
    requests = {}
    for name in ("cpu_request", "mem_request", "priority", "scheduling_class"):
        column = events.column(name)
        valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), bool)[order]
        values = column.fill_null(0).to_numpy()[order]
        first_row = first(row, valid)
        has = np.isfinite(first_row)
        requests[name] = (values[np.where(has, first_row, 0).astype(np.int64)], has)
    keep = (
        np.isfinite(submit)
        & requests["cpu_request"][1]
        & requests["mem_request"][1]
        & (requests["cpu_request"][0] > 0)
    )
    with np.errstate(invalid="ignore"):
        duration = ended - scheduled
    # A task scheduled before the window (timestamp 0) shows only part of its run time.
    observed = np.isfinite(duration) & (scheduled > 0)
    observed_pool = duration[observed & keep]
    if observed_pool.size == 0:
        raise WorkloadError(
            "the task_events hold no task that both started and ended; load more trace parts"
        )
    missing = keep & ~observed
    duration[missing] = rng.choice(observed_pool, size=int(missing.sum()))
    first_event = order[starts]
    owner = _owner_ids(events.column("user"), order, first, row)
    table = pa.table(
        {
            "submit_s": submit[keep],
            "cpu": requests["cpu_request"][0][keep].astype(np.float32),
            "mem": requests["mem_request"][0][keep].astype(np.float32),
            "duration_s": np.maximum(duration[keep], 1.0).astype(np.float32),
            "duration_observed": observed[keep],
            "priority": requests["priority"][0][keep].astype(np.int8),
            "scheduling_class": requests["scheduling_class"][0][keep].astype(np.int8),
            "job_id": job[first_event][keep].astype(np.int64),
            "task_index": index[first_event][keep].astype(np.int32),
            "scheduled_s": _nullable(scheduled[keep]),
            "end_s": _nullable(ended[keep]),
            "machine_id": machine[keep].astype(np.int64),
            "owner": owner[keep],
        }
    )
    return table.sort_by([("submit_s", "ascending"), ("job_id", "ascending")])


def _owner_ids(users: pa.ChunkedArray, order: np.ndarray, first, row: np.ndarray) -> np.ndarray:
    """Each task's first non-empty user as an int64 that is the same in every load of the
    trace (the user names are hashes already; 0 for a task without one)."""
    valid = np.asarray(users.is_valid().to_numpy(zero_copy_only=False), bool)[order]
    first_row = first(row, valid)
    has = np.isfinite(first_row)
    names = users.fill_null("").to_numpy(zero_copy_only=False)[order]
    names = names[np.where(has, first_row, 0).astype(np.int64)]
    unique, inverse = np.unique(names, return_inverse=True)
    ids = np.array(
        [
            int.from_bytes(
                hashlib.blake2b(n.encode(), digest_size=8).digest(), "little", signed=True
            )
            for n in unique
        ],
        np.int64,
    )
    return np.where(has, ids[inverse], 0)


def load_machines(
    path: str | Path, lenient: bool = False, include_removed: bool = False
) -> pa.Table:
    """One row per machine with a known capacity: machine_id int64, cpu float32, mem float32
    (last known normalized capacities), added_s float64 (first ADD; 0 = before the trace),
    removed_s float64 (its last REMOVE when that is its last event, else inf). Machines removed
    for good are left out unless include_removed."""
    events = read_headerless_csv(path, MACHINE_EVENT_COLUMNS, MACHINE_EVENT_TYPES, lenient)
    events = require_values(
        events, ("timestamp", "machine_id", "event_type"), path, lenient, "machine_events"
    )
    t = _column(events, "timestamp", 0)
    machine = _column(events, "machine_id", 0)
    order = np.lexsort((t, machine))
    machine, t = machine[order], t[order] / US_PER_S
    kind = _column(events, "event_type", -1)[order]
    starts = np.flatnonzero(np.r_[True, machine[1:] != machine[:-1]])
    last = np.r_[starts[1:], len(machine)] - 1
    row = np.arange(len(machine))
    capacity = {}
    for name in ("cpu", "mem"):
        values = _column(events, name, np.nan)[order]
        last_known = np.maximum.reduceat(np.where(np.isfinite(values), row, -1), starts)
        capacity[name] = np.where(last_known >= 0, values[np.maximum(last_known, 0)], np.nan)
    removed = kind[last] == MACHINE_REMOVE
    keep = (capacity["cpu"] > 0) & (capacity["mem"] > 0)
    if not include_removed:
        keep &= ~removed
    if not keep.any():
        raise WorkloadError(f"machine_events {path} describe no machine with known capacity")
    added = np.minimum.reduceat(np.where(kind == MACHINE_ADD, t, np.inf), starts)
    table = pa.table(
        {
            "machine_id": machine[starts][keep].astype(np.int64),
            "cpu": capacity["cpu"][keep].astype(np.float32),
            "mem": capacity["mem"][keep].astype(np.float32),
            "added_s": np.where(np.isfinite(added), added, 0.0)[keep],
            "removed_s": np.where(removed, t[last], np.inf)[keep],
        }
    )
    return with_rows_dropped(table, rows_dropped(events))
