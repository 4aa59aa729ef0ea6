"""Benchmark windows: spread over the trace without overlapping, fixed by the seed."""

import dataclasses

import pytest

from envs.workloads.trace import TraceWorkload
from marl_alloc.floor.errors import UserError
from marl_alloc.scoring.environment import with_trace, workload_env
from marl_alloc.scoring.windows import choose_windows, window_env
from tests.envs.trace_files import write_cell_trace


@pytest.fixture(scope="module")
def trace_env(tmp_path_factory):
    tasks, machines = write_cell_trace(tmp_path_factory.mktemp("trace"), arrivals=400)
    return with_trace(workload_env("google2011"), [str(tasks)], str(machines), "sample")


def test_windows_cover_the_trace_in_order_without_overlap(trace_env):
    windows = choose_windows(trace_env, count=4, tasks=20, loads=[0.8, 1.2], seed=3)
    rows = [w.start_row for w in windows]
    arrivals = len(TraceWorkload.from_config(trace_env.workload).arrivals)
    # One window per quarter of the trace.
    assert [r * 4 // arrivals for r in rows] == [0, 1, 2, 3]
    assert len({w.seed for w in windows}) == 4
    assert [w.start_s for w in windows] == sorted(w.start_s for w in windows)
    assert choose_windows(trace_env, 4, 20, [0.8, 1.2], seed=3) == windows
    assert choose_windows(trace_env, 4, 20, [0.8, 1.2], seed=4) != windows


def test_a_window_env_replays_from_its_start_at_its_load(trace_env):
    window = choose_windows(trace_env, count=2, tasks=20, loads=[1.2], seed=0)[1]
    env = window_env(trace_env, window, load=1.2, tasks=20)
    assert env.episode_tasks == 20
    assert env.workload.start_row == window.start_row and env.workload.load_factor == 1.2
    assert dataclasses.replace(
        env.workload, start_row=None, load_factor=1.0
    ) == dataclasses.replace(trace_env.workload, start_row=None)


def test_windows_larger_than_the_trace_are_refused(trace_env):
    with pytest.raises(UserError, match=r"--windows 20 x --window-tasks 500 need about \d+"):
        choose_windows(trace_env, count=20, tasks=500, loads=[0.5, 1.0], seed=0)


def test_a_generated_workload_has_seeded_windows_and_no_loads():
    env = workload_env("synthetic")
    windows = choose_windows(env, count=3, tasks=50, loads=[1.0], seed=0)
    assert [w.start_row for w in windows] == [None] * 3 and len({w.seed for w in windows}) == 3
    with pytest.raises(UserError, match="--loads needs a trace workload"):
        choose_windows(env, count=3, tasks=50, loads=[0.8, 1.2], seed=0)
