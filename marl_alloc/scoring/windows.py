"""Benchmark windows: finite episodes that replay a held-out trace from different starts.

The trace's arrivals are cut into `count` equal strata; window i replays `tasks` arrivals from a
seeded start inside stratum i, so windows never overlap and cover the trace from its beginning
to its end. Each window has its own env seed (warm start, host capacities, usage), the same for
every policy and load, so scores pair per window. A synthetic workload has no trace: its
windows are seeded episodes at random start times.
"""

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import EnvConfig, TraceWorkloadConfig


@dataclasses.dataclass(frozen=True)
class Window:
    """One replayed stretch: its env seed and, on a trace, the arrival it starts at and that
    arrival's trace time (seconds)."""

    index: int
    seed: int
    start_row: int | None = None
    start_s: float | None = None


def window_seed(seed: int, index: int) -> int:
    """The env seed of window `index` under the benchmark's --seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def choose_windows(
    env: EnvConfig, count: int, tasks: int, loads: Sequence[float], seed: int
) -> list[Window]:
    """`count` windows of `tasks` arrivals each (both > 0) over the env's trace at `loads` (all
    > 0); a UserError naming the argument when they do not fit in it."""
    if not isinstance(env.workload, TraceWorkloadConfig):
        if list(loads) != [1.0]:
            raise UserError("--loads needs a trace workload (--workload google2011 or azure)")
        return [Window(i, window_seed(seed, i)) for i in range(count)]
    from envs.workloads.trace import TraceWorkload

    lowest = dataclasses.replace(env.workload, load_factor=min(loads))
    trace = TraceWorkload.from_config(lowest)
    arrivals, needed = len(trace.arrivals), _rows_per_window(trace, env, tasks, seed)
    if count * needed > arrivals:
        raise UserError(
            f"--windows {count} x --window-tasks {tasks} need about {count * needed} trace "
            f"arrivals at load {min(loads):g}, but the trace has {arrivals}: fewer or smaller "
            "windows, or more --task-events files"
        )
    stratum = arrivals // count
    rng = np.random.default_rng(seed)
    windows = []
    for i in range(count):
        row = i * stratum + int(rng.integers(0, stratum - needed + 1))
        start_s = float(trace.all_tasks["submit_s"][trace.arrivals[row]])
        windows.append(Window(i, window_seed(seed, i), row, start_s))
    return windows


def _rows_per_window(trace, env: EnvConfig, tasks: int, seed: int) -> int:
    """Trace rows a window of `tasks` arrivals replays: each row arrives Poisson(fraction)
    times, so about tasks / fraction rows; three standard deviations more keep it clear of the
    next window."""
    from envs.hosts import draw_capacities
    from envs.topology import Topology

    hosts = Topology.from_config(env.topology).num_hosts
    cpu, _ = draw_capacities(trace, env.hosts, [np.random.default_rng(seed)], hosts)
    fraction = trace.sample_fraction(float(cpu.sum()))
    return math.ceil((tasks + 3 * math.sqrt(tasks)) / fraction)


def window_env(env: EnvConfig, window: Window, load: float, tasks: int) -> EnvConfig:
    """The env of one window at one load: `tasks` arrivals from the window's start row."""
    env = dataclasses.replace(env, episode_tasks=tasks)
    if window.start_row is None:
        return env
    workload = dataclasses.replace(env.workload, start_row=window.start_row, load_factor=load)
    return dataclasses.replace(env, workload=workload)
