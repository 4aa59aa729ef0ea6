"""Workloads: task streams as numpy columns (synthetic; traces: Google 2011, Azure).

Trace readers (pyarrow Tables, one row per task / machine):
    load_tasks(task_event_paths), load_machines(path)   -- Google cluster-data 2011
    load_vms(path)                                       -- Azure public VM trace vmtable
"""

from envs.workloads.azure import load_vms
from envs.workloads.base import TASK_DTYPES, Tasks, TaskSource, Workload, empty_tasks
from envs.workloads.google2011 import load_machines, load_tasks
from envs.workloads.synthetic import SyntheticWorkload
from envs.workloads.trace import TraceWorkload
from marl_alloc.floor.settings.env import SyntheticWorkloadConfig, TraceWorkloadConfig


def build_workload(config) -> Workload:
    """The workload an env config's `workload` section describes."""
    if isinstance(config, SyntheticWorkloadConfig):
        return SyntheticWorkload(config)
    if isinstance(config, TraceWorkloadConfig):
        return TraceWorkload.from_config(config)
    raise TypeError(f"no workload for config {type(config).__name__}")


__all__ = [
    "TASK_DTYPES",
    "SyntheticWorkload",
    "TaskSource",
    "TraceWorkload",
    "Tasks",
    "Workload",
    "build_workload",
    "empty_tasks",
    "load_machines",
    "load_tasks",
    "load_vms",
]
