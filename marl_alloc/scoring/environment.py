"""The env a score is taken on, built the same way for a trained policy and for a heuristic.

A heuristic scored alone and the same heuristic scored as a checkpoint's baseline run on the
env these functions build from the same arguments, so they score the same: the cell of a trace
is always cut into whole clusters of the configured shape (a trained policy's cluster agent
knows one shape only), never into one cluster of many racks for heuristics alone.
"""

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import EnvConfig, TraceWorkloadConfig
from marl_alloc.floor.settings.env import TRACE_KINDS


def workload_env(workload: str, overrides: Sequence[str] = ()) -> EnvConfig:
    """The env settings of conf/env/WORKLOAD with Hydra overrides on top."""
    from marl_alloc.floor.settings.compose import available_workloads, compose_settings

    if workload not in available_workloads():
        names = ", ".join(available_workloads())
        raise UserError(f"unknown workload '{workload}' (choose one of: {names})")
    return compose_settings([f"env={workload}", *overrides]).env


def for_trained(env: EnvConfig, trained: EnvConfig) -> EnvConfig:
    """`env` as a policy trained on `trained` can act in it: its topology and forecast slots
    (its input sizes), and no more deferrals than it learned."""
    return dataclasses.replace(
        env,
        topology=trained.topology,
        forecast_horizon=trained.forecast_horizon,
        # A policy trained with fewer (or no) deferrals never learned more: its defer action
        # stays masked as it was. The measuring window stays the workload's, whose default tail
        # would otherwise shrink with max_defers.
        episode_tail_s=env.resolved_episode_tail_s,
        max_defers=min(env.max_defers, trained.max_defers),
    )


def with_trace(
    env: EnvConfig,
    task_events: Sequence[str],
    machine_events: str | None,
    mode: str,
    lenient: bool = False,
) -> EnvConfig:
    """`env` replaying these trace files (--task-events, --machine-events) in `mode` (sample or
    cell); the flags must suit the workload."""
    if not isinstance(env.workload, TraceWorkloadConfig):
        raise UserError(f"--task-events needs --workload {' or '.join(TRACE_KINDS)}")
    workload = dataclasses.replace(
        env.workload,
        tasks=[str(Path(p).resolve()) for p in task_events],
        machines=str(Path(machine_events).resolve()) if machine_events else env.workload.machines,
        mode=mode,
        lenient=lenient,
    )
    return dataclasses.replace(env, workload=workload)


def cell_env(env: EnvConfig, max_tasks: int | None) -> tuple[EnvConfig, object]:
    """The env whose one datacenter is the trace's whole cell (every machine a host, up to
    `max_tasks` arrivals), and the loaded workload. The hosts fill whole clusters of the
    configured racks, leaves and hosts; each arriving task goes to one cluster."""
    from envs.workloads import build_workload

    tasks = max_tasks if max_tasks is not None else 2**62
    env = dataclasses.replace(env, episode_tasks=tasks)
    loaded = build_workload(env.workload)
    if loaded.machines is not None:
        top = env.topology
        per_cluster = top.racks_per_cluster * top.leaves_per_rack * top.hosts_per_leaf
        clusters = math.ceil(len(loaded.machines[0]) / per_cluster)
        env = dataclasses.replace(env, topology=dataclasses.replace(top, num_clusters=clusters))
    return env, loaded
