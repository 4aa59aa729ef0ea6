"""Workloads: task streams as numpy columns (synthetic; traces: Google 2011, Azure)."""

from envs.config import SyntheticWorkloadConfig
from envs.workloads.base import TASK_DTYPES, Tasks, TaskSource, Workload, empty_tasks
from envs.workloads.synthetic import SyntheticWorkload


def build_workload(config) -> Workload:
    """The workload an env config's `workload` section describes."""
    if isinstance(config, SyntheticWorkloadConfig):
        return SyntheticWorkload(config)
    raise TypeError(f"no workload for config {type(config).__name__}")


__all__ = [
    "TASK_DTYPES",
    "SyntheticWorkload",
    "TaskSource",
    "Tasks",
    "Workload",
    "build_workload",
    "empty_tasks",
]
