import numpy as np
import pytest

from envs import HEURISTICS, EnvConfigError, VectorDatacenterEnv, WorkloadError
from envs.workloads.trace import load_machine_table, load_task_table
from tests.envs.conftest import load_env_yaml, random_actions
from tests.envs.trace_files import write_machine_events, write_task_events, write_vmtable


def trace_config(tasks, machines=None, kind="google2011", **workload) -> dict:
    config = load_env_yaml("google2011")
    config["topology"] = {
        "num_clusters": 1,
        "racks_per_cluster": 2,
        "leaves_per_rack": 2,
        "hosts_per_leaf": 4,
    }
    config["workload"].update(kind=kind, tasks=tasks, machines=machines, **workload)
    config["episode_tasks"] = 30
    return config


def play(config, seed=0, num_envs=2, cycles=40):
    env = VectorDatacenterEnv(config, num_envs=num_envs, seed=seed)
    rng, lo, rewards = np.random.default_rng(0), env.reset(), []
    for _ in range(3 * cycles):
        result = env.step(random_actions(rng, lo.action_mask))
        lo = result.next
        if result.cycle_end:
            rewards.append(result.reward)
    return env, np.array(rewards)


def test_small_google_trace_replays_and_wraps(tmp_path):
    tasks = str(write_task_events(tmp_path / "te.csv.gz"))
    machines = str(write_machine_events(tmp_path / "me.csv.gz"))
    config = trace_config([tasks], machines, sample_fraction=2.0)
    env, rewards = play(config)
    # capacities come from the machine table (0.5 / 0.5 machines only)
    assert set(np.unique(env.hosts.cpu_capacity)) == {0.5}
    assert (env.metrics()["tasks_total"] >= 20).all()  # 3 trace arrivals, replayed many times
    assert np.isfinite(rewards).all()
    _, again = play(config)
    np.testing.assert_array_equal(rewards, again)


def test_azure_vmtable_as_workload(tmp_path):
    config = trace_config([str(write_vmtable(tmp_path / "vmtable.csv"))], kind="azure")
    env, _ = play(config)
    assert (env.metrics()["tasks_placed"] > 0).all()


def test_prepared_parquet_gives_the_same_env(tmp_path):
    from marl_alloc.prepare import main

    tasks = write_task_events(tmp_path / "te.csv.gz")
    machines = write_machine_events(tmp_path / "me.csv.gz")
    out = tmp_path / "prepared"
    args = ["--workload", "google2011", "--input", str(tasks), "--machine-events", str(machines)]
    assert main([*args, "--output", str(out)]) == 0
    raw = trace_config([str(tasks)], str(machines), sample_fraction=1.0)
    prepared = trace_config([str(out)], str(out), sample_fraction=1.0)
    np.testing.assert_array_equal(play(raw)[1], play(prepared)[1])


def test_trace_config_needs_files():
    config = load_env_yaml("google2011")
    config["workload"]["tasks"] = []
    with pytest.raises(EnvConfigError, match="env.workload.tasks"):
        VectorDatacenterEnv(config, num_envs=1, seed=0)
    config["workload"]["tasks"] = ["/nonexistent/task_events.csv.gz"]
    load_task_table.cache_clear()
    with pytest.raises(WorkloadError, match="does not exist"):
        VectorDatacenterEnv(config, num_envs=1, seed=0)
    config["workload"]["tasks"] = ["/nonexistent/tasks.parquet"]
    with pytest.raises(WorkloadError, match="marl_alloc.prepare"):
        VectorDatacenterEnv(config, num_envs=1, seed=0)


def test_real_google_env_shows_the_packing_trade_off(shared_data):
    if not (shared_data / "google-2011").is_dir():
        pytest.skip("Google 2011 files are not in ../shared/data")
    config = load_env_yaml("google2011")
    config["episode_tasks"] = 500
    results = {}
    for name in ("best-fit", "worst-fit"):
        env = VectorDatacenterEnv(config, num_envs=2, seed=0, continuing=False)
        policy = HEURISTICS[name](seed=0)
        while not env.done.all():
            env.step_hosts(policy.hosts(env))
        results[name] = env.metrics()
    assert results["best-fit"]["energy_kwh"].sum() < results["worst-fit"]["energy_kwh"].sum()
    assert load_machine_table.cache_info().currsize >= 1


def test_a_replay_can_start_at_a_given_arrival(tmp_path):
    from envs.workloads.trace import TraceWorkload
    from marl_alloc.floor.settings import TraceWorkloadConfig
    from tests.envs.trace_files import write_cell_trace

    tasks, machines = write_cell_trace(tmp_path)
    config = TraceWorkloadConfig(tasks=[str(tasks)], machines=str(machines), start_row=120)
    workload = TraceWorkload.from_config(config)
    # Many copies per trace task: the first arrivals are the start row's task, whatever the seed.
    for seed in (0, 1):
        first = workload.open(np.random.default_rng(seed), 0.0, 3, 1e4).take(3)
        row = workload.arrivals[120]
        np.testing.assert_array_equal(first["cpu"], workload.all_tasks["cpu"][[row] * 3])
    past = TraceWorkloadConfig(tasks=[str(tasks)], machines=str(machines), start_row=10_000)
    with pytest.raises(WorkloadError, match="start_row"):
        TraceWorkload.from_config(past)
    with pytest.raises(EnvConfigError, match="start_row"):
        TraceWorkloadConfig(tasks=[str(tasks)], mode="cell", start_row=0)
