"""Cell mode: one datacenter is the whole trace cell (its machines, every task once, in time)."""

import numpy as np
import pytest

from envs import HEURISTICS, VectorDatacenterEnv, WorkloadError
from envs.workloads import load_machines, load_tasks
from tests.envs.conftest import load_env_yaml
from tests.envs.trace_files import write_cell_trace

MACHINES, RUNNING, ARRIVALS = 24, 60, 200


@pytest.fixture
def cell(tmp_path):
    return write_cell_trace(tmp_path, MACHINES, RUNNING, ARRIVALS)


def cell_config(cell, hosts_per_leaf=8, **workload) -> dict:
    tasks, machines = cell
    config = load_env_yaml("google2011")
    config["topology"] = {
        "num_clusters": 1,
        "racks_per_cluster": 2,
        "leaves_per_rack": 2,
        "hosts_per_leaf": hosts_per_leaf,
    }
    config["workload"].update(tasks=[str(tasks)], machines=str(machines), mode="cell", **workload)
    config["episode_tasks"] = 10**9
    return config


def test_hosts_are_the_machines_in_order_and_empty_slots_never_fit(cell):
    env = VectorDatacenterEnv(cell_config(cell), num_envs=1, seed=0, continuing=False)
    machines = load_machines(cell[1])
    np.testing.assert_allclose(env.hosts.cpu_capacity[0, :MACHINES], machines["cpu"].to_numpy())
    assert (env.hosts.cpu_capacity[0, MACHINES:] == 0).all()
    assert not env.feasible_hosts[0, MACHINES:].any()
    assert (env.hosts.power_state[0, MACHINES:] == 0).all()
    assert np.isfinite(env.observe().obs).all()


def test_running_tasks_start_on_their_recorded_machines(cell):
    env = VectorDatacenterEnv(cell_config(cell), num_envs=1, seed=0, continuing=False)
    assert env.tasks_at_start[0] + env.tasks_dropped_at_start[0] == RUNNING
    assert env.tasks_at_start[0] > 0.9 * RUNNING
    tasks = load_tasks([cell[0]])
    running = tasks.filter(tasks["submit_s"].to_numpy() == 0)
    ids = load_machines(cell[1])["machine_id"].to_numpy()
    recorded = np.searchsorted(ids, running["machine_id"].to_numpy())
    per_host = np.bincount(recorded, minlength=env.topology.num_hosts)
    assert (env.hosts.num_tasks[0] <= per_host).all()
    assert env.hosts.num_tasks[0].sum() == env.tasks_at_start[0]
    h = env.hosts
    assert (h.cpu_requested <= h.cpu_capacity * h.cpu_overcommit_max + 1e-6).all()


def test_every_arrival_comes_once_at_its_own_time(cell):
    env = VectorDatacenterEnv(cell_config(cell), num_envs=1, seed=0, continuing=False)
    policy, seen = HEURISTICS["best-fit"](seed=0), []
    while not env.done[0]:
        if env.has_pending[0]:
            seen.append(float(env.pending["arrival_s"][0]))
        env.step_hosts(policy.hosts(env))
    metrics = env.metrics()
    assert metrics["tasks_total"][0] == ARRIVALS
    submit = load_tasks([cell[0]])["submit_s"].to_numpy()
    np.testing.assert_allclose(seen, submit[submit > 0])
    assert metrics["tasks_placed"][0] + metrics["tasks_rejected"][0] == ARRIVALS


def test_max_tasks_stops_early_and_seeds_repeat(cell):
    def run(seed):
        config = cell_config(cell)
        config["episode_tasks"] = 50
        env = VectorDatacenterEnv(config, num_envs=1, seed=seed, continuing=False)
        policy = HEURISTICS["worst-fit"](seed=0)
        while not env.done[0]:
            env.step_hosts(policy.hosts(env))
        return env.metrics()

    a, b = run(1), run(1)
    assert a["tasks_total"][0] == 50
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_topology_smaller_than_the_cell_is_a_clear_error(cell):
    with pytest.raises(WorkloadError, match=f"{MACHINES} machines but the topology only 16"):
        VectorDatacenterEnv(cell_config(cell, hosts_per_leaf=4), num_envs=1, seed=0)


def test_azure_cell_takes_every_vm(tmp_path):
    from tests.envs.trace_files import write_vmtable

    config = load_env_yaml("azure")
    config["workload"].update(tasks=[str(write_vmtable(tmp_path / "vmtable.csv"))], mode="cell")
    config["episode_tasks"] = 10**9
    env = VectorDatacenterEnv(config, num_envs=1, seed=0, continuing=False)
    policy = HEURISTICS["first-fit"](seed=0)
    while not env.done[0]:
        env.step_hosts(policy.hosts(env))
    assert env.metrics()["tasks_total"][0] == 4  # VMs alive before the trace arrive at its start
