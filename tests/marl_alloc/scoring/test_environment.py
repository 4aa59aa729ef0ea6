"""The env a score runs in: a trained policy's adjustments and the cell's topology."""

import pytest

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.scoring.environment import cell_env, for_trained, with_trace, workload_env
from tests.envs.trace_files import write_cell_trace


def test_a_policy_trained_without_deferral_is_scored_without_it_in_the_same_window():
    preset = workload_env("google2011")
    trained = compose_settings(["env=google2011", "env.max_defers=0", "env.episode_tail_s=3600"])
    env = for_trained(preset, trained.env)
    assert env.max_defers == 0
    assert env.episode_tail_s == preset.max_defers * preset.defer_delay_s > 0
    # A policy that learned to defer keeps the workload's rules.
    assert for_trained(preset, preset).max_defers == preset.max_defers


def test_a_cell_fills_whole_clusters_of_the_configured_shape(tmp_path):
    tasks, machines = write_cell_trace(tmp_path, machines=40)
    small = ["env.topology.racks_per_cluster=2", "env.topology.hosts_per_leaf=4"]  # 32 a cluster
    env = with_trace(workload_env("google2011", small), [str(tasks)], str(machines), "cell")
    env, workload = cell_env(env, max_tasks=50)
    assert env.topology.num_clusters == 2 and env.topology.racks_per_cluster == 2
    assert env.episode_tasks == 50 and len(workload.machines[0]) == 40


def test_trace_flags_need_a_trace_workload_and_a_known_one():
    with pytest.raises(UserError, match="--task-events needs --workload"):
        with_trace(workload_env("synthetic"), ["t.csv.gz"], None, "cell")
    with pytest.raises(UserError, match="unknown workload 'nope'"):
        workload_env("nope")
