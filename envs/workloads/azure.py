"""Azure public VM trace (AzurePublicDataset `vmtable.csv`): one row per VM as a task.

Columns (no header): vm id, subscription id, deployment id, created (s), deleted (s), max CPU,
avg CPU, p95 of max CPU (percent of the VM's cores), VM category, core count bucket, memory (GB)
bucket. Files without the category column (10 columns) are read too. Buckets such as ">24" count
as 1.25 times their bound. A VM's request is its cores and memory over one host's
(`cores_per_host`, `mem_gb_per_host`); its usage factor is avg CPU / 100; Delay-insensitive VMs
are deferrable. VMs alive at the trace's end keep their truncated lifetime
(`duration_observed` False).
"""

import csv
import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from envs.errors import WorkloadError
from envs.workloads.csv_input import (
    read_headerless_csv,
    require_values,
    rows_dropped,
    with_rows_dropped,
)

VM_COLUMNS = (
    "vm_id",
    "subscription_id",
    "deployment_id",
    "created_s",
    "deleted_s",
    "max_cpu",
    "avg_cpu",
    "p95_max_cpu",
    "category",
    "core_bucket",
    "memory_bucket",
)
VM_TYPES = {
    "deployment_id": pa.string(),
    "created_s": pa.float64(),
    "deleted_s": pa.float64(),
    "max_cpu": pa.float64(),
    "avg_cpu": pa.float64(),
    "p95_max_cpu": pa.float64(),
    "category": pa.string(),
    "core_bucket": pa.string(),
    "memory_bucket": pa.string(),
}
PRIORITY_BY_CATEGORY = {"Delay-insensitive": 0, "Unknown": 1, "Interactive": 2}
OPEN_BUCKET_FACTOR = 1.25


def _column_count(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        first = next(csv.reader(handle), [])
    return len(first)


def _bucket_values(column: pa.ChunkedArray, name: str, path: Path) -> np.ndarray:
    text = pc.utf8_trim_whitespace(column.fill_null(""))
    open_ended = np.asarray(pc.starts_with(text, ">"))
    number = pc.replace_substring(text, ">", "")
    try:
        values = pc.cast(number, pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        raise WorkloadError(
            f"malformed Azure vmtable {path}: column '{name}' holds a non-numeric bucket"
        ) from None
    return np.where(open_ended, OPEN_BUCKET_FACTOR * values, values)


def load_vms(
    path: str | Path,
    cores_per_host: float = 64.0,
    mem_gb_per_host: float = 256.0,
    lenient: bool = False,
) -> pa.Table:
    """Tasks from an Azure vmtable: submit_s, cpu, mem, duration_s, duration_observed, priority,
    usage_factor, deferrable, job_id (deployment), task_index (VM within it); by submit_s."""
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"Azure vmtable {path} does not exist; check the path")
    columns = (
        VM_COLUMNS
        if _column_count(path) != len(VM_COLUMNS) - 1
        else (tuple(c for c in VM_COLUMNS if c != "category"))
    )
    types = {k: v for k, v in VM_TYPES.items() if k in columns}
    vms = read_headerless_csv(path, columns, types, lenient)
    mandatory = ("created_s", "deleted_s", "avg_cpu", "core_bucket", "memory_bucket")
    vms = require_values(vms, mandatory, path, lenient, "Azure vmtable")
    if vms.num_rows == 0:
        raise WorkloadError(f"Azure vmtable {path} is empty")
    created = vms.column("created_s").to_numpy()
    deleted = vms.column("deleted_s").to_numpy()
    if np.any(deleted < created):
        row = int(np.flatnonzero(deleted < created)[0]) + 1
        raise WorkloadError(f"Azure vmtable {path}, row {row}: deleted before it was created")
    cores = _bucket_values(vms.column("core_bucket"), "core_bucket", path)
    memory = _bucket_values(vms.column("memory_bucket"), "memory_bucket", path)
    if "category" in columns:
        category = vms.column("category").fill_null("Unknown").to_pylist()
    else:
        category = ["Unknown"] * vms.num_rows
    priority = np.array([PRIORITY_BY_CATEGORY.get(c, 1) for c in category], np.int8)
    deployment = pc.dictionary_encode(vms.column("deployment_id").fill_null("")).combine_chunks()
    job = deployment.indices.to_numpy().astype(np.int64)
    task_index = np.zeros(len(job), np.int32)
    order = np.argsort(job, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(job[order]) != 0])
    task_index[order] = np.arange(len(job)) - np.repeat(starts, np.diff(np.r_[starts, len(job)]))
    table = pa.table(
        {
            "submit_s": created,
            "cpu": np.minimum(cores / cores_per_host, 1.0).astype(np.float32),
            "mem": np.minimum(memory / mem_gb_per_host, 1.0).astype(np.float32),
            "duration_s": np.maximum(deleted - created, 1.0).astype(np.float32),
            "duration_observed": (created > created.min()) & (deleted < deleted.max()),
            "priority": priority,
            "usage_factor": (vms.column("avg_cpu").to_numpy() / 100.0).astype(np.float32),
            "deferrable": priority == PRIORITY_BY_CATEGORY["Delay-insensitive"],
            "job_id": job,
            "task_index": task_index,
        }
    )
    return with_rows_dropped(table.sort_by("submit_s"), rows_dropped(vms))
