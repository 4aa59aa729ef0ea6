"""The extender's forecasts: the policy's forecaster on the cluster's demand bins, run once per
closed bin with ForecastFeed's own code, never by a decision; zeros without a forecaster."""

import copy
import functools
import json

import numpy as np
import pytest

from envs import VectorDatacenterEnv
from envs.demand_history import ARRIVALS, DEPARTURES, DemandHistory
from envs.observations import level_forecast
from marl_alloc.apex.builder import policy_spec
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import CONFIG_FILE
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import acting_policy
from marl_alloc.policy.checkpoint import MODULE_PATH
from marl_alloc.serving import forecasts as forecasts_module
from marl_alloc.serving.config import ServeConfig
from marl_alloc.serving.forecasts import SOURCE
from marl_alloc.serving.hierarchy import HostColumns
from marl_alloc.serving.policy import LevelQPolicy
from marl_alloc.serving.service import ExtenderService
from tests.marl_alloc.serving.kube_state import (
    CORES,
    as_the_cluster_knows_it,
    extender_args,
    node_objects,
    quantity,
)

SHAPE = ("env.topology.racks_per_cluster=2", "env.topology.leaves_per_rack=2")
SMALL = (*SHAPE, "env.topology.hosts_per_leaf=3", "model.policy.hidden_sizes=[32,32]")
FORECASTER = ("model.forecaster.enabled=true", "model.forecaster.resolution_s=2.0")
RESOLUTION_S = 2.0


@functools.cache
def policy(forecaster: bool = True):
    """(settings, module) of an untrained policy of 2 racks x 2 leaf groups x 3 hosts."""
    import torch

    settings = compose_settings([*SMALL, *(FORECASTER if forecaster else ())])
    torch.manual_seed(0)
    module = policy_spec(settings).build()
    module.foreach_module(lambda _, m: m.eval())
    return settings, module


class Clock:
    """A clock the test moves."""

    def __init__(self, now_s: float):
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def service_for(
    forecaster: bool = True, clock: Clock | None = None, seed: int = 0
) -> ExtenderService:
    settings, module = policy(forecaster)
    config = ServeConfig.from_mapping({"carbon": {"seed": seed}})
    return ExtenderService(config, settings.env, LevelQPolicy(module), clock=clock or Clock(0.0))


def node_list(env: VectorDatacenterEnv, version: str = "1") -> list[tuple[str, str, bytes]]:
    """Env 0's hosts as a node list (name, resourceVersion, JSON), as a node watch lists them."""
    nodes = node_objects(env)
    for node in nodes:
        node["metadata"]["resourceVersion"] = version
    return [(n["metadata"]["name"], version, json.dumps(n).encode()) for n in nodes]


def fresh_env(seed: int = 0) -> VectorDatacenterEnv:
    env = VectorDatacenterEnv(policy()[0].env, num_envs=1, seed=seed)
    env.reset(seed=seed)
    return env


def test_the_extenders_forecast_is_forecast_feeds_on_the_same_demand_history():
    settings, module = policy()
    env = VectorDatacenterEnv(settings.env, num_envs=1, seed=3)
    acting = acting_policy(module)  # a ForecastingPolicy: training's feed
    level_obs = env.reset(seed=3)
    for _ in range(3000):
        level_obs = env.step(acting.act(env, level_obs)).next
        at_cluster = level_obs.level == "cluster" and level_obs.active[0]
        if at_cluster and env.demand_bins_closed[0] >= 4:
            acting.act(env, level_obs)  # the cycle's first decision refreshes the forecast
            break
    assert env.demand_bins_closed[0] >= 4 and np.abs(env.forecast).max() > 0
    level_obs = as_the_cluster_knows_it(env)
    service = service_for(clock=Clock(float(env.now[0])), seed=3)
    service.nodes.replace(node_list(env))
    forecasts = service.forecasts
    forecasts.tick()  # lays the cluster out: the simulator's leaf groups, in its order
    # The same demand history: the simulator's own bins.
    forecasts.demand.history = env.demand
    assert forecasts.tick(forecasts.demand.now_s)
    np.testing.assert_array_equal(forecasts.current.per_leaf, env.forecast[0])
    # Every level's rows observe the simulator's per-level means of that forecast.
    prepared = service.prepare("prioritize", extender_args(env))
    levels, top = prepared.decision.levels, env.topology
    steps = env.config.forecast_horizon
    for level, rows in [("cluster", 1), ("rack", top.num_racks), ("leaf", top.num_leaves)]:
        expected = level_forecast(level, top, env.forecast, np.arange(rows))
        observed = levels.observations(level, np.arange(rows))[:, -steps:]
        np.testing.assert_allclose(observed, expected, rtol=1e-6)
    np.testing.assert_allclose(
        levels.observations("cluster", np.array([0]))[0], level_obs.obs[0], rtol=1e-5, atol=1e-6
    )


def _set_requested(env: VectorDatacenterEnv, node: int, cores: float, version: str):
    """The node list with `node`'s requested CPU annotation changed."""
    nodes = node_objects(env)
    nodes[node]["metadata"]["annotations"]["marl-alloc.io/cpu-requested"] = quantity(cores)
    doc = nodes[node]
    return doc["metadata"]["name"], version, json.dumps(doc).encode()


def test_bins_close_with_the_clock_and_hold_what_the_nodes_and_events_said():
    env = fresh_env()
    clock = Clock(1000.0)
    service = service_for(clock=clock)
    service.nodes.replace(node_list(env))
    demand = service.forecasts.demand
    service.forecasts.tick()
    assert demand.generation == 1 and demand.bins_closed == 0
    # The simulator's DemandHistory fed the same held requests and events by hand.
    h = env.hosts
    columns = (h.cpu_capacity, h.mem_capacity, h.cpu_requested, h.mem_requested)
    hosts = HostColumns(*columns, h.cpu_usage, h.power_state, *columns[:2])
    bins = (RESOLUTION_S, demand.keep_bins)
    expected = DemandHistory(env.topology, hosts, np.array([1000.0]), *bins)
    after = copy.deepcopy(hosts)
    after.cpu_requested[0, 4] += 8.0 / CORES
    # A pod bound to node 7 at 1000.5, node 4's request up 8 cores seen at 1001.5, a pod on
    # node 1 ended at 1002.5 (a bin later), one that ended before the history began.
    clock.now_s = 1000.5
    service.pod_bound("node-0007")
    finished = _finished_pod("done-1", "node-0001", "1970-01-01T00:16:42.500Z")  # 1002.5
    old = _finished_pod("done-0", "node-0002", "1970-01-01T00:16:00Z")  # 960
    name, version, raw = _set_requested(env, 4, h.cpu_requested[0, 4] * CORES + 8.0, "2")
    service.nodes.put(name, version, raw)
    clock.now_s = 1001.5
    service.forecasts.tick()  # the new request holds from here
    service.run_times.replace([finished, old])
    clock.now_s = 1004.2
    assert service.forecasts.tick()  # two bins closed: one forward
    one = np.zeros(1, np.int64)
    expected.integrate(hosts, np.array([1000.0]), np.array([1000.5]))
    expected.count(one, np.array([7]), ARRIVALS)
    expected.integrate(hosts, np.array([1000.5]), np.array([1001.5]))
    expected.integrate(after, np.array([1001.5]), np.array([1002.5]))
    expected.count(one, np.array([1]), DEPARTURES)
    expected.integrate(after, np.array([1002.5]), np.array([1004.2]))
    assert demand.bins_closed == 2 == int(expected.closed[0])
    np.testing.assert_allclose(demand.history.bins, expected.bins, rtol=1e-6, atol=1e-9)
    assert demand.counted == {"arrivals": 1, "departures": 1}
    assert service.forecasts.forwards == 1 and service.forecasts.current.bins_closed == 2


def _finished_pod(name: str, node: str, finished_at: str) -> tuple[str, str, bytes]:
    pod = {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
        "status": {
            "phase": "Succeeded",
            "startTime": "1970-01-01T00:00:00Z",
            "containerStatuses": [{"state": {"terminated": {"finishedAt": finished_at}}}],
        },
    }
    return name, "1", json.dumps(pod).encode()


def test_a_decision_reuses_the_last_forecast_and_never_runs_the_forecaster(monkeypatch):
    forwards = []
    real = forecasts_module.leaf_forecasts

    def counted(*args, **kwargs):
        forwards.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(forecasts_module, "leaf_forecasts", counted)
    env = fresh_env(1)
    clock = Clock(500.0)
    service = service_for(clock=clock)
    service.nodes.replace(node_list(env))
    body = extender_args(env)
    service.forecasts.tick()
    for _ in range(3):
        clock.now_s += 1.5  # past bin ends, but only the replica's tick closes bins
        assert service.handle("prioritize", body)[0] == 200
    assert forwards == []
    seen = service.last_decision["pod_inputs"]
    assert seen["forecast_source"].startswith("none yet") and seen["forecast_age_bins"] is None
    assert service.forecasts.tick()
    assert len(forwards) == 1
    used = []
    for _ in range(3):
        prepared = service.prepare("prioritize", body)
        used.append(prepared.decision.levels.forecast.source)
        service.answer(prepared, None)
    assert len(forwards) == 1 and all(u is service.forecasts.current for u in used)
    assert service.last_decision["pod_inputs"]["forecast_source"] == SOURCE
    assert service.last_decision["pod_inputs"]["forecast_age_bins"] == 0
    clock.now_s += 3 * RESOLUTION_S  # the tick thread stalled: the age says so
    service.handle("prioritize", body)
    assert service.last_decision["pod_inputs"]["forecast_age_bins"] == 3
    stats = service.forecast_snapshot()
    assert stats["age_bins"] == 3 and stats["forwards"] == 1 and stats["source"] == SOURCE
    assert service.metrics.forecast_forwards == 1


def test_a_policy_without_a_forecaster_observes_zeros_and_says_so():
    env = fresh_env(2)
    service = service_for(forecaster=False, clock=Clock(float(env.now[0])), seed=2)
    assert service.forecasts is None
    level_obs = as_the_cluster_knows_it(env)
    prepared = service.prepare("prioritize", extender_args(env))
    steps = env.config.forecast_horizon
    for level in ("cluster", "rack", "leaf"):
        rows = prepared.decision.levels.rows_with_action(level)
        assert not prepared.decision.levels.observations(level, rows)[:, -steps:].any()
    cluster = prepared.decision.levels.observations("cluster", np.array([0]))[0]
    np.testing.assert_allclose(cluster, level_obs.obs[0], rtol=1e-5, atol=1e-6)
    service.answer(prepared, None)
    assert service.last_decision["pod_inputs"]["forecast_source"].startswith("none: the policy")
    assert service.forecast_snapshot() == {"source": service.forecast_snapshot()["source"]}


def test_the_history_starts_again_when_a_node_joins():
    env = fresh_env(3)
    clock = Clock(100.0)
    service = service_for(clock=clock)
    nodes = node_list(env)
    service.nodes.replace(nodes[:-1])
    service.forecasts.tick()
    clock.now_s = 105.0
    service.forecasts.tick()
    demand = service.forecasts.demand
    assert demand.bins_closed == 2 and demand.generation == 1
    service.nodes.put(*nodes[-1])
    clock.now_s = 106.0
    service.forecasts.tick()
    assert demand.generation == 2 and demand.bins_closed == 0
    assert service.forecast_snapshot()["history_restarts"] == 1


def test_a_checkpoint_whose_forecaster_has_another_window_is_one_line_and_exit_2(tmp_path, capsys):
    from marl_alloc.serve import main

    settings, module = policy()
    settings = copy.deepcopy(settings)
    root = tmp_path / "checkpoint"
    module.save_to_path(str(root / MODULE_PATH))
    settings.model.forecaster.window += 1
    settings.save(root / CONFIG_FILE)
    with pytest.raises(UserError, match="model.forecaster.window") as err:
        LevelQPolicy.from_checkpoint(str(root))
    assert "\n" not in str(err.value)
    assert main([str(root)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: the forecaster in") and "Traceback" not in "".join(lines)
