"""TraceWorkload: replay a recorded task table (Google 2011, Azure) in simulated datacenters.

`sample` mode (training): each datacenter starts at a seeded random row of the trace (or at
`start_row`, as a benchmark window does) and replays it in order, wrapping around at its end;
every trace task arrives Poisson(sample_fraction) times, which thins a cell-sized trace down to
the datacenter (or multiplies a small one). Hosts take capacities drawn from the machines
present at the table's end.

`cell` mode (evaluation): the datacenter is the whole cell. Its hosts are the machines present
at the window's start (the first arrival), in machine-id order, in the topology's first host
slots (the remaining slots stay empty); every task submitted inside the window arrives once at
its own time; tasks running at the window's start begin on their recorded machine (those that
do not fit it are dropped and counted). Tasks waiting at the window's start are left out and
counted too. Without a recorded machine (Azure), tasks that existed before the window arrive at
its start. Machine changes inside the window are not replayed: hosts keep their capacities.
"""

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from envs.errors import WorkloadError
from envs.workloads.azure import load_vms
from envs.workloads.base import START_WINDOW_S, Tasks, empty_tasks, lognormal_from_std
from envs.workloads.csv_input import rows_dropped
from envs.workloads.google2011 import load_machines, load_tasks
from envs.workloads.row_checks import require_in_range, require_time_order, require_values
from marl_alloc.floor.errors import first_line
from marl_alloc.floor.paths import resolve_path
from marl_alloc.floor.settings.env import TraceWorkloadConfig

TASKS_FILE = "tasks.parquet"
MACHINES_FILE = "machines.parquet"
REQUIRED_COLUMNS = ("submit_s", "cpu", "mem", "duration_s", "priority")
# What the loaders write; a prepared file from elsewhere (or an older prepare) is checked too.
TASK_LIMITS = {
    "submit_s": (0.0, np.inf),
    "cpu": (0.0, 1.0),
    "mem": (0.0, 1.0),
    "duration_s": (0.0, np.inf),
    "usage_factor": (0.0, np.inf),
}
MACHINE_COLUMNS = ("machine_id", "cpu", "mem")
MACHINE_LIMITS = {"cpu": (0.0, 1.0), "mem": (0.0, 1.0), "added_s": (0.0, np.inf)}
# A datacenter drawing fewer arrivals than this per pass over the trace is a setting mistake
# (and would make TraceSource.take pass over the trace again and again for each task).
MIN_ARRIVALS_PER_PASS = 1.0
# take() gives up after this many passes over the trace that drew no arrival at all (at
# MIN_ARRIVALS_PER_PASS, a chance of e**-50 that a valid setting gets there).
MAX_EMPTY_PASSES = 50


def _parquet_path(path: Path, file_name: str) -> Path | None:
    if path.is_dir():
        path = path / file_name
    return path if path.suffix == ".parquet" else None


def _read_parquet(path: Path, required: tuple[str, ...], limits: dict, lenient: bool) -> pa.Table:
    """A prepared table with the `required` columns filled, and the columns in `limits` finite
    and in range."""
    if not path.is_file():
        raise WorkloadError(
            f"prepared trace {path} does not exist; run python -m marl_alloc.prepare"
        )
    try:
        table = pq.read_table(path)
        rows_dropped(table)  # the count prepare wrote must read back as a number
        names = table.column_names  # decoded on first use: damaged names fail here
    except (OSError, pa.ArrowException, ValueError) as err:  # damaged bytes, metadata included
        raise WorkloadError(f"cannot read {path}: {first_line(err)}") from None
    missing = [c for c in required if c not in names]
    if missing:
        raise WorkloadError(
            f"prepared trace {path} lacks columns {missing}; run python -m marl_alloc.prepare"
        )
    table = require_values(table, required, path, lenient, "prepared trace")
    present = {name: bounds for name, bounds in limits.items() if name in names}
    return require_in_range(table, present, path, lenient, "prepared trace")


@functools.lru_cache(maxsize=8)
def load_task_table(
    kind: str, paths: tuple[str, ...], seed: int, cores: float, mem_gb: float, lenient: bool = False
) -> pa.Table:
    """Task table of a trace from raw files or one prepared parquet (cached per process)."""
    resolved = [resolve_path(p) for p in paths]
    prepared = _parquet_path(resolved[0], TASKS_FILE) if len(resolved) == 1 else None
    if prepared is None and kind == "azure":
        if len(resolved) != 1:
            raise WorkloadError("an Azure workload reads one vmtable file; list exactly one")
        return load_vms(resolved[0], cores, mem_gb, lenient=lenient)
    if prepared is None:
        return load_tasks(resolved, seed=seed, lenient=lenient)
    table = _read_parquet(prepared, REQUIRED_COLUMNS, TASK_LIMITS, lenient)
    # The loaders sort by submit time; a prepared file out of order would shift the window.
    return require_time_order(table, "submit_s", prepared, lenient, "prepared trace")


@functools.lru_cache(maxsize=8)
def load_machine_table(path: str, lenient: bool = False) -> pa.Table:
    """Machine capacities from raw machine_events or a prepared machines.parquet (cached),
    removed machines included (with their removed_s)."""
    resolved = resolve_path(path)
    prepared = _parquet_path(resolved, MACHINES_FILE)
    if prepared is not None:
        return _read_parquet(prepared, MACHINE_COLUMNS, MACHINE_LIMITS, lenient)
    return load_machines(resolved, lenient=lenient, include_removed=True)


def _column(table: pa.Table, name: str, default: float) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default)
    return table.column(name).to_numpy(zero_copy_only=False)


class TraceWorkload:
    """A trace's task table as numpy columns, shared by all datacenters' sources."""

    def __init__(self, config: TraceWorkloadConfig, tasks: pa.Table, machines: pa.Table | None):
        self.config = config
        self.cell = config.mode == "cell"
        columns = {name: tasks.column(name).to_numpy() for name in REQUIRED_COLUMNS}
        self.all_tasks = columns
        # What run-time estimates are keyed by; tables without them read as unknown (0).
        for name, source in (("owner", "owner"), ("task_class", "scheduling_class")):
            columns[name] = _column(tasks, source, 0).astype(np.int64)
        self.usage = (
            tasks.column("usage_factor").to_numpy()
            if "usage_factor" in tasks.column_names
            else None
        )
        self.deferrable = (
            tasks.column("deferrable").to_numpy()
            if "deferrable" in tasks.column_names
            else columns["priority"] <= config.deferrable_max_priority
        )
        self.input_rows_dropped = rows_dropped(tasks) + (rows_dropped(machines) if machines else 0)
        submit = columns["submit_s"]
        recorded = self.cell and machines is not None and "machine_id" in tasks.column_names
        # Tasks submitted before the trace window (time 0) were running already: warm start only.
        self.arrivals = (
            np.flatnonzero(submit > 0) if recorded or not self.cell else np.arange(len(submit))
        )
        if self.arrivals.size < 2:
            raise WorkloadError("the trace holds fewer than 2 tasks arriving inside its window")
        if config.start_row is not None and config.start_row >= self.arrivals.size:
            raise WorkloadError(
                f"env.workload.start_row {config.start_row} is past the trace's "
                f"{self.arrivals.size} arrivals"
            )
        arrival_s = submit[self.arrivals]
        self.window_start_s = float(arrival_s.min())
        self.span_s = float(arrival_s[-1] - arrival_s[0]) + float(np.mean(np.diff(arrival_s)))
        self.max_priority = int(max(columns["priority"].max(), 1))
        self.mean_cpu = float(columns["cpu"].mean())
        demand_per_s = (
            float((columns["cpu"][self.arrivals] * columns["duration_s"][self.arrivals]).sum())
            / self.span_s
        )
        if not (np.isfinite(demand_per_s) and demand_per_s > 0):
            raise WorkloadError(
                f"the trace's arrivals request {demand_per_s:g} CPU on average; requests must be"
                " finite and not all zero"
            )
        self.demand_cpu = demand_per_s  # CPU the trace's arrivals request on average
        self.running_rows = np.zeros(0, np.int64)
        self.skipped_at_start = 0
        if recorded:
            scheduled = _column(tasks, "scheduled_s", np.nan)
            end = _column(tasks, "end_s", np.nan)
            running = (submit == 0) & (scheduled == 0) & ~(end <= self.window_start_s)
            self.running_rows = np.flatnonzero(running)
            self.running_machine = _column(tasks, "machine_id", -1)[running].astype(np.int64)
            self.running_end_s = end[running]
            self.skipped_at_start = int(((submit == 0) & ~running).sum())
            self.files_end_s = float(np.nanmax(np.r_[submit, end]))
        self.machines = None
        if machines is not None:
            added = _column(machines, "added_s", 0.0)
            removed = _column(machines, "removed_s", np.inf)
            if self.cell:
                present = (added <= self.window_start_s) & (removed > self.window_start_s)
            else:
                present = np.isinf(removed)
            self.machine_ids = machines.column("machine_id").to_numpy()[present]
            self.machines = (
                machines.column("cpu").to_numpy()[present],
                machines.column("mem").to_numpy()[present],
            )
            if not present.any():
                raise WorkloadError("the machine table holds no machine present in the window")

    @classmethod
    def from_config(cls, config: TraceWorkloadConfig) -> "TraceWorkload":
        """Load (or reuse) the trace tables the config names."""
        tasks = load_task_table(
            config.kind,
            tuple(config.tasks),
            config.duration_seed,
            config.cores_per_host,
            config.mem_gb_per_host,
            config.lenient,
        )
        machines = load_machine_table(config.machines, config.lenient) if config.machines else None
        return cls(config, tasks, machines)

    def sample_fraction(self, total_cpu: float) -> float:
        """Arrivals per trace task for a datacenter with total_cpu capacity."""
        c = self.config
        fraction = c.sample_fraction
        if fraction is None:
            fraction = c.target_utilization * c.load_factor * total_cpu / self.demand_cpu
        per_pass = fraction * len(self.arrivals)
        if not (np.isfinite(per_pass) and per_pass >= MIN_ARRIVALS_PER_PASS):
            raise WorkloadError(
                f"sampling {fraction:g} copies of each of the trace's {len(self.arrivals)} tasks"
                f" gives {per_pass:g} arrivals per pass over it (at least"
                f" {MIN_ARRIVALS_PER_PASS:g} needed); raise env.workload.sample_fraction or"
                " load_factor, or use a longer trace"
            )
        return float(fraction)

    def start_s(self, rng: np.random.Generator) -> float:
        """Simulated time an episode starts at: the window's start for a cell, else random."""
        return self.window_start_s if self.cell else float(rng.uniform(0.0, START_WINDOW_S))

    def host_capacities(self, rng: np.random.Generator, n: int):
        """(cpu, mem) of n host slots: a cell's machines in order (zeros for empty slots), else
        n machines drawn from the trace; None without a machine table."""
        if self.machines is None:
            return None
        cpu, mem = self.machines
        if self.cell:
            if len(cpu) > n:
                raise WorkloadError(
                    f"the cell has {len(cpu)} machines but the topology only {n} host slots; "
                    "raise env.topology.num_clusters or racks_per_cluster"
                )
            pad = np.zeros(n - len(cpu))
            return np.r_[cpu.astype(np.float64), pad], np.r_[mem.astype(np.float64), pad]
        pick = rng.choice(len(cpu), size=n, replace=n > len(cpu))
        return cpu[pick].astype(np.float64), mem[pick].astype(np.float64)

    def running_at_start(self, rng: np.random.Generator) -> tuple[Tasks, np.ndarray] | None:
        """A cell's tasks running at the window's start (duration_s: the time they have left)
        and their host slots (-1: machine not in the cell); None outside cell mode."""
        if not self.cell or self.machines is None:
            return None
        rows = self.running_rows
        tasks = self.tasks_at(rows, rng)
        end = self.running_end_s
        # Runs that outlast these files end a drawn run time after the files do.
        unseen = (self.files_end_s - self.window_start_s) + tasks["duration_s"] * rng.random(
            len(rows)
        )
        left = np.where(np.isfinite(end), end - self.window_start_s, unseen)
        tasks["duration_s"][:] = np.maximum(left, 1.0)
        slot = np.searchsorted(self.machine_ids, self.running_machine)
        slot = np.minimum(slot, len(self.machine_ids) - 1)
        found = self.machine_ids[slot] == self.running_machine
        return tasks, np.where(found, slot, -1)

    def tasks_at(self, rows: np.ndarray, rng: np.random.Generator) -> Tasks:
        """Task columns of the given table rows (usage factors drawn where the trace has none)."""
        tasks = empty_tasks(len(rows))
        for name in ("cpu", "mem", "duration_s", "priority", "owner", "task_class"):
            tasks[name][:] = self.all_tasks[name][rows]
        tasks["deferrable"][:] = self.deferrable[rows]
        if self.usage is not None:
            tasks["usage_factor"][:] = self.usage[rows]
        else:
            c = self.config
            usage = lognormal_from_std(rng, c.usage_factor_mean, c.usage_factor_std, len(rows))
            tasks["usage_factor"][:] = np.clip(usage, 0.01, 3.0)
        return tasks

    def sample_running(self, rng: np.random.Generator, n: int) -> Tasks:
        """n trace tasks caught mid-run (remaining time a uniform share of their run time). A
        task is running at a given instant in proportion to its run time, so tasks are drawn
        with that weight (uniform draws would start an episode with the short ones, whose work
        drains in minutes)."""
        duration = self.all_tasks["duration_s"].astype(np.float64)
        tasks = self.tasks_at(rng.choice(len(duration), size=n, p=duration / duration.sum()), rng)
        tasks["duration_s"] = np.maximum(
            tasks["duration_s"] * rng.random(n).astype(np.float32), np.float32(1.0)
        )
        return tasks

    def open(
        self, rng: np.random.Generator, start_s: float, num_tasks: int | None, total_cpu: float
    ) -> "TraceSource | CellSource":
        """A cell: every arrival once, in order. Else a replay starting at a random trace row,
        shifted to begin at start_s."""
        if self.cell:
            return CellSource(self, rng, num_tasks)
        return TraceSource(self, rng, start_s, num_tasks, self.sample_fraction(total_cpu))


class TraceSource:
    """One datacenter's replay cursor into a TraceWorkload."""

    def __init__(
        self,
        workload: TraceWorkload,
        rng: np.random.Generator,
        start_s: float,
        num_tasks: int | None,
        fraction: float,
    ):
        self.workload = workload
        self.rng = rng
        self.fraction = float(fraction)
        start_row = workload.config.start_row
        self.cursor = int(rng.integers(len(workload.arrivals))) if start_row is None else start_row
        first = workload.all_tasks["submit_s"][workload.arrivals[self.cursor]]
        self.offset_s = float(start_s - first)
        self.remaining = num_tasks

    def take(self, n: int) -> Tasks:
        """The next up to n arrivals, in order."""
        if self.remaining is not None:
            n = min(n, self.remaining)
        w, rows, times = self.workload, [], []
        count = count_at_wrap = empty_passes = 0
        while count < n:
            block = w.arrivals[self.cursor : self.cursor + 4 * n]
            copies = np.minimum(self.rng.poisson(self.fraction, len(block)), n)
            fits = np.cumsum(copies) <= n - count
            used = len(block) if fits.all() else int(np.argmin(fits))
            rows.append(np.repeat(block[:used], copies[:used]))
            times.append(
                np.repeat(w.all_tasks["submit_s"][block[:used]] + self.offset_s, copies[:used])
            )
            count += int(copies[:used].sum())
            self.cursor += used
            if self.cursor >= len(w.arrivals):
                self.cursor, self.offset_s = 0, self.offset_s + w.span_s
                empty_passes = empty_passes + 1 if count == count_at_wrap else 0
                count_at_wrap = count
                if empty_passes >= MAX_EMPTY_PASSES:
                    raise WorkloadError(
                        f"{empty_passes} passes over the trace at {self.fraction:g} copies per"
                        " task drew no arrival; raise env.workload.sample_fraction"
                    )
            if used < len(block):
                break
        rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        tasks = w.tasks_at(rows_all, self.rng)
        tasks["arrival_s"][:] = np.concatenate(times) if times else np.zeros(0)
        if self.remaining is not None:
            self.remaining -= len(rows_all)
        return tasks

    def get_state(self) -> dict[str, Any]:
        """Cursor, time offset, fraction, remaining count and RNG state."""
        return {
            "rng": self.rng.bit_generator.state,
            "cursor": self.cursor,
            "offset_s": self.offset_s,
            "fraction": self.fraction,
            "remaining": self.remaining,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue exactly where `get_state` was taken."""
        self.rng.bit_generator.state = state["rng"]
        self.cursor = int(state["cursor"])
        self.offset_s = float(state["offset_s"])
        self.fraction = float(state["fraction"])
        self.remaining = state["remaining"]


class CellSource:
    """A cell's arrivals: each trace task once, at its own time, until the trace (or num_tasks)
    ends."""

    def __init__(self, workload: TraceWorkload, rng: np.random.Generator, num_tasks: int | None):
        self.workload = workload
        self.rng = rng
        self.cursor = 0
        self.end = len(workload.arrivals)
        if num_tasks is not None:
            self.end = min(self.end, num_tasks)

    def take(self, n: int) -> Tasks:
        """The next up to n arrivals."""
        w = self.workload
        rows = w.arrivals[self.cursor : min(self.cursor + n, self.end)]
        self.cursor += len(rows)
        tasks = w.tasks_at(rows, self.rng)
        tasks["arrival_s"][:] = np.maximum(w.all_tasks["submit_s"][rows], w.window_start_s)
        return tasks

    def get_state(self) -> dict[str, Any]:
        """Cursor and RNG state."""
        return {"rng": self.rng.bit_generator.state, "cursor": self.cursor, "end": self.end}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue exactly where `get_state` was taken."""
        self.rng.bit_generator.state = state["rng"]
        self.cursor = int(state["cursor"])
        self.end = int(state["end"])
