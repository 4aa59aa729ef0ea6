"""Write tiny trace files in the exact raw formats (Google 2011 csv.gz, Azure vmtable)."""

import gzip
from pathlib import Path

US = 1_000_000

# (time s, job, task, event, priority, cpu, mem); empty strings stand for empty fields. Listed
# task by task, written in time order as the trace is.
_TASK_EVENTS_BY_TASK = [
    (0, 1, 0, 0, 9, "0.125", "0.07"),  # submitted before the window, runs on
    (0, 1, 0, 1, 9, "", ""),
    (700, 2, 0, 0, 0, "0.05", "0.02"),  # submit, schedule, finish: run 300 s
    (710, 2, 0, 1, 0, "", ""),
    (1010, 2, 0, 4, 0, "", ""),
    (800, 2, 1, 0, 0, "", ""),  # first SUBMIT lacks requests; UPDATE_PENDING gives them
    (805, 2, 1, 7, 0, "0.04", "0.03"),
    (900, 2, 1, 1, 0, "", ""),
    (1500, 2, 1, 2, 0, "", ""),  # evicted after 600 s, then rescheduled
    (1600, 2, 1, 1, 0, "", ""),
    (2000, 2, 1, 4, 0, "", ""),
    (1200, 3, 0, 0, 11, "0.3", "0.2"),  # never scheduled inside the window
    (1300, 4, 0, 1, 5, "", ""),  # no SUBMIT in these files: left out
    (1400, 5, 0, 0, 2, "", ""),  # never any request: left out
]
TASK_EVENTS = sorted(_TASK_EVENTS_BY_TASK, key=lambda row: row[0])
MACHINE_EVENTS = [
    (0, 5, 0, "0.5", "0.25"),
    (0, 6, 0, "1", "1"),
    (0, 7, 0, "0.5", "0.5"),
    (100, 7, 2, "", ""),  # an UPDATE without capacities keeps the known ones
    (200, 6, 1, "", ""),  # removed
    (300, 8, 0, "", ""),  # never a capacity: left out
    (400, 5, 2, "0.5", "0.5"),
]


def task_event_line(t, job, task, event, priority, cpu, mem) -> str:
    # time, missing info, job, task, machine, event, user, class, priority, cpu, mem, disk, diff
    return f"{t * US},,{job},{task},42,{event},userhash,1,{priority},{cpu},{mem},0.001,0"


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def write_task_events(path: Path, rows=TASK_EVENTS) -> Path:
    """The rows in time order, as the trace writes them."""
    return write_gz(path, [task_event_line(*row) for row in sorted(rows, key=lambda r: r[0])])


def write_machine_events(path: Path, rows=MACHINE_EVENTS) -> Path:
    return write_gz(path, [f"{t * US},{m},{e},platformhash,{c},{mem}" for t, m, e, c, mem in rows])


VMTABLE = [
    # vm id, subscription, deployment, created, deleted, max, avg, p95, category, cores, memory
    ("vmA", "sub1", "dep1", 0, 2591700, 90.0, 20.0, 70.0, "Interactive", "2", "4"),
    ("vmB", "sub1", "dep1", 300, 3900, 50.0, 10.0, 40.0, "Delay-insensitive", "4", "8"),
    ("vmC", "sub2", "dep2", 600, 1200, 99.0, 60.0, 95.0, "Unknown", ">24", ">64"),
    ("vmD", "sub2", "dep2", 900, 1500, 20.0, 5.0, 10.0, "Interactive", "8", "32"),
]


def write_vmtable(path: Path, rows=VMTABLE, with_category: bool = True) -> Path:
    lines = []
    for row in rows:
        fields = [str(v) for v in row]
        if not with_category:
            del fields[8]
        lines.append(",".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_cell_trace(
    folder: Path, machines: int = 24, running: int = 60, arrivals: int = 200, seed: int = 0
) -> tuple[Path, Path]:
    """A small cell in the exact Google 2011 formats: machines added at time 0, tasks running
    when the window opens (SUBMIT and SCHEDULE at 0 on a machine, some ending inside it) and
    tasks submitted inside it (SUBMIT, SCHEDULE, FINISH). Returns (task_events, machine_events).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    cpu = rng.choice(["0.5", "1"], machines)
    mem = rng.choice(["0.25", "0.5", "1"], machines)
    machine_lines = [f"0,{100 + m},0,platformhash,{cpu[m]},{mem[m]}" for m in range(machines)]
    events = []

    def task(t, job, event, machine="", cpu_req="", mem_req="", priority=0):
        return (
            t,
            f"{int(t * US)},,{job},0,{machine},{event},user,1,{priority},{cpu_req},"
            f"{mem_req},0.001,0",
        )

    for i in range(running):
        job, machine = 1000 + i, 100 + int(rng.integers(machines))
        c, m = f"{rng.uniform(0.01, 0.08):.4f}", f"{rng.uniform(0.01, 0.06):.4f}"
        events.append(task(0, job, 0, "", c, m, 9))
        events.append(task(0, job, 1, machine, c, m, 9))
        if i % 2:
            events.append(task(rng.uniform(700, 3000), job, 4, machine))
    submit = np.sort(rng.uniform(600, 3600, arrivals))
    for j, t in enumerate(submit):
        job, machine = 5000 + j, 100 + int(rng.integers(machines))
        c, m = f"{rng.uniform(0.01, 0.1):.4f}", f"{rng.uniform(0.01, 0.08):.4f}"
        priority = int(rng.integers(0, 11))
        events.append(task(t, job, 0, "", c, m, priority))
        events.append(task(t + 2, job, 1, machine, c, m, priority))
        events.append(task(t + 2 + rng.lognormal(5.5, 1.0), job, 4, machine))
    events.sort(key=lambda e: e[0])
    tasks_path = write_gz(folder / "task_events-part-00000-of-00001.csv.gz", [e[1] for e in events])
    machines_path = write_gz(folder / "machine_events-part-00000-of-00001.csv.gz", machine_lines)
    return tasks_path, machines_path
