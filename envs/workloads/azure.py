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
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from envs.errors import WorkloadError
from envs.workloads.csv_input import FLOAT, read_headerless_csv, rows_dropped, with_rows_dropped
from envs.workloads.row_checks import reject_rows, require_in_range, require_values

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
MANDATORY = ("created_s", "deleted_s", "avg_cpu", "core_bucket", "memory_bucket")
# Times past MAX_TIME_S (centuries) are damage, and their lifetimes would overflow float32.
MAX_TIME_S = 1e10
VM_LIMITS = {
    "created_s": (0.0, MAX_TIME_S),
    "deleted_s": (0.0, MAX_TIME_S),
    "max_cpu": (0.0, 100.0),
    "avg_cpu": (0.0, 100.0),
    "p95_max_cpu": (0.0, 100.0),
}
WHAT = "Azure vmtable"
PRIORITY_BY_CATEGORY = {"Delay-insensitive": 0, "Unknown": 1, "Interactive": 2}
OPEN_BUCKET_FACTOR = 1.25


def _column_count(path: Path) -> int:
    """Fields in the first row; 0 when it cannot be read (the full read names the problem)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            return len(next(csv.reader(handle), []))
    except (OSError, EOFError, zlib.error, csv.Error):
        return 0


def _bucket_values(column: pa.ChunkedArray) -> np.ndarray:
    """Bucket sizes as numbers (">24" counts OPEN_BUCKET_FACTOR * 24); nan where not a number."""
    text = pc.utf8_trim_whitespace(column.fill_null(""))
    open_ended = np.asarray(pc.starts_with(text, ">"))
    number = pc.replace_substring(text, ">", "")
    parses = np.asarray(pc.match_substring_regex(number, FLOAT).to_numpy(zero_copy_only=False))
    values = np.full(len(text), np.nan)
    values[parses] = pc.cast(number.filter(pa.array(parses)), pa.float64()).to_numpy()
    with np.errstate(over="ignore"):  # ">1e308" becomes inf, which the bucket check rejects
        return np.where(open_ended, OPEN_BUCKET_FACTOR * values, values)


def _require_fitting_buckets(
    vms: pa.Table, per_host: dict[str, tuple[float, str]], path: Path, lenient: bool
) -> pa.Table:
    """Rows whose core or memory bucket is not a positive number or exceeds one host's."""
    sizes = {name: _bucket_values(vms.column(name)) for name in per_host}
    bad = {
        name: ~((values > 0) & (values <= per_host[name][0]))  # nan and inf included
        for name, values in sizes.items()
    }

    def describe(row: int) -> str:
        name = next(n for n, b in bad.items() if b[row])
        text, limit, setting = vms.column(name)[row].as_py(), *per_host[name]
        if np.isfinite(sizes[name][row]) and sizes[name][row] > 0:
            return (
                f"column '{name}' asks for {text.strip()}, more than one host's {limit:g} "
                f"(env.workload.{setting}); raise it to fit such VMs"
            )
        return f"column '{name}' holds {text!r}, not a positive size such as '8' or '>24'"

    too_big = bad["core_bucket"] | bad["memory_bucket"]
    return reject_rows(vms, too_big, path, lenient, WHAT, describe)


def _require_lifetimes(vms: pa.Table, path: Path, lenient: bool) -> pa.Table:
    """Rows deleted before they were created."""
    created = vms.column("created_s").to_numpy()
    deleted = vms.column("deleted_s").to_numpy()

    def describe(row: int) -> str:
        return f"deleted before it was created ({deleted[row]:g} < {created[row]:g} s)"

    return reject_rows(vms, deleted < created, path, lenient, WHAT, describe)


def load_vms(
    path: str | Path,
    cores_per_host: float = 64.0,
    mem_gb_per_host: float = 256.0,
    lenient: bool = False,
) -> pa.Table:
    """Tasks from an Azure vmtable: submit_s, cpu, mem, duration_s, duration_observed, priority,
    usage_factor, deferrable, job_id (deployment), task_index (VM within it); by submit_s.
    Strict unless lenient (see row_checks): times finite and >= 0, CPU percentages in [0, 100],
    buckets positive and within one host."""
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
    vms = require_values(vms, MANDATORY, path, lenient, WHAT)
    vms = require_in_range(vms, VM_LIMITS, path, lenient, WHAT)
    vms = _require_lifetimes(vms, path, lenient)
    per_host = {
        "core_bucket": (cores_per_host, "cores_per_host"),
        "memory_bucket": (mem_gb_per_host, "mem_gb_per_host"),
    }
    vms = _require_fitting_buckets(vms, per_host, path, lenient)
    if vms.num_rows == 0:
        raise WorkloadError(f"Azure vmtable {path} holds no usable VM")
    created = vms.column("created_s").to_numpy()
    deleted = vms.column("deleted_s").to_numpy()
    cores = _bucket_values(vms.column("core_bucket"))
    memory = _bucket_values(vms.column("memory_bucket"))
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
            "cpu": (cores / cores_per_host).astype(np.float32),
            "mem": (memory / mem_gb_per_host).astype(np.float32),
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
