"""ExtenderService without Ray: observations and choices equal the simulator's on the same state;
carbon hold-back; 400 on malformed requests."""

import collections
import copy
import dataclasses
import datetime as dt
import functools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs import HEURISTICS, VectorDatacenterEnv
from envs.observations import CONTEXT_FEATURES, TASK_FEATURES
from marl_alloc.floor.errors import UserError
from marl_alloc.policy import ModulePolicy, build_policy_spec
from marl_alloc.serving.config import ServeConfig
from marl_alloc.serving.decisions import PolicyAnswer
from marl_alloc.serving.policy import LevelQPolicy
from marl_alloc.serving.service import ExtenderService
from tests.marl_alloc.serving.full_scoring import full_q, full_scores, policy_ranking, row_by_row
from tests.marl_alloc.serving.kube_state import (
    as_the_cluster_knows_it,
    cluster_history,
    env_at_decision,
    extender_args,
    finished_pods,
    simulated_pick,
    small_settings,
)


@functools.cache
def policy_for(shape: tuple[int, ...]):
    """(settings, module) of an untrained policy for (racks, leaves, hosts[, clusters])."""
    import torch

    settings = small_settings(*shape)
    env = VectorDatacenterEnv(settings.env, num_envs=1, seed=0)
    torch.manual_seed(sum(shape))
    module = build_policy_spec(env.obs_dims, env.num_actions, settings.model.policy).build()
    return settings, module


def call(service: ExtenderService, verb: str, body) -> tuple[int, object]:
    """(status, decoded JSON answer) of one synchronous call."""
    status, answer = service.handle(verb, body)
    return status, json.loads(answer)


def service_for(shape, env, seed, policy=True, **serve):
    settings, module = policy_for(shape)
    config = ServeConfig.from_mapping(
        {"clock_s": float(env.now[0]), **serve, "carbon": {"seed": seed, **serve.get("carbon", {})}}
    )
    level_q = LevelQPolicy(module) if policy else None
    return ExtenderService(config, settings.env, level_q), ModulePolicy(module)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", [(2, 1, 5), (3, 2, 4, 2), (2, 1, 5, 100)])
@pytest.mark.parametrize("history", [False, True], ids=["nothing-finished", "finished-pods"])
def test_observations_match_the_simulator_at_every_level(shape, seed, history):
    settings = policy_for(shape)[0]
    env, level_obs = env_at_decision(settings, seed)
    service, policy = service_for(shape, env, seed)
    if history:
        # The same finished tasks: the simulator's estimator learns them, the extender's
        # learns them as finished pods (the run-time features then differ from the prior's).
        finished = cluster_history(env, seed=seed)
        level_obs = as_the_cluster_knows_it(env, finished)
        service.run_times.replace(finished_pods(finished))
        assert env.pending["duration_est_s"][0] != service.env.knowledge.prior_median_s
    prepared = service.prepare("prioritize", extender_args(env))
    levels = prepared.decision.levels

    def observation(level: str, row: int) -> np.ndarray:
        return levels.observations(level, np.array([row]))[0]

    cluster = int(env.pending["cluster"][0])  # zone-<ccc> sorts as cluster c
    np.testing.assert_allclose(observation("cluster", cluster), level_obs.obs[0], atol=1e-6)
    np.testing.assert_array_equal(levels.mask["cluster"][cluster], level_obs.action_mask[0])
    state = env.get_state()
    try:
        for level in ("rack", "leaf"):
            action = policy.act(env, level_obs)
            if level == "rack" and action[0] == env.topology.racks_per_cluster:
                return  # the policy deferred: no lower levels to compare
            level_obs = env.step(action).next
            row = int(env._rack[0] if level == "rack" else env._leaf[0])
            np.testing.assert_allclose(observation(level, row), level_obs.obs[0], atol=1e-6)
            np.testing.assert_array_equal(levels.mask[level][row], level_obs.action_mask[0])
    finally:
        env.set_state(state)


@pytest.mark.parametrize("seed", range(6))
def test_top_score_is_the_policy_choice_in_the_simulator(seed):
    shape = (2, 2, 4)
    env, _ = env_at_decision(policy_for(shape)[0], seed, deferrable=False)
    service, policy = service_for(shape, env, seed)
    status, priorities = call(service, "prioritize", extender_args(env))
    assert status == 200
    scores = [p["Score"] for p in priorities]
    assert min(scores) >= 0 and max(scores) == 10 and scores.count(10) == 1
    assert scores.index(10) == simulated_pick(env, policy)
    feasible = env.feasible_hosts[0]
    assert all(s == 0 for s, ok in zip(scores, feasible, strict=True) if not ok)
    assert all(s >= 1 for s, ok in zip(scores, feasible, strict=True) if ok)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(2, 1, 5, 100), (5, 10, 20)])
def test_at_a_thousand_hosts_the_policy_choice_ranks_first_in_its_zone(shape, seed):
    env, _ = env_at_decision(policy_for(shape)[0], seed, deferrable=False)
    service, policy = service_for(shape, env, seed)
    prepared = service.prepare("prioritize", extender_args(env))
    q = full_q(prepared.decision.levels, service.policy.q_values)
    table = prepared.layout.table
    ranked = policy_ranking(q, prepared.feasible, prepared.layout.tiling)
    zone = f"zone-{int(env.pending['cluster'][0]):03d}"
    in_zone = [i for i in ranked if table.zones[i] == zone]
    assert table.names[in_zone[0]] == f"node-{simulated_pick(env, policy):04d}"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(2, 1, 5, 100), (5, 10, 20), (3, 2, 4, 2)])
def test_top_down_scores_equal_full_scoring_with_the_policy(shape, seed):
    env, _ = env_at_decision(policy_for(shape)[0], seed, deferrable=False)
    service, _ = service_for(shape, env, seed)
    # Row by row: the same Q values for a row whichever rows share its forward pass.
    service.policy.q_values = row_by_row(service.policy.q_values)
    asked = collections.Counter()
    one_row = service.policy.q_values

    def counted(level, obs):
        asked[level] += len(obs)
        return one_row(level, obs)

    prepared = service.prepare("prioritize", extender_args(env))
    levels, layout = prepared.decision.levels, prepared.layout
    expected = full_scores(
        full_q(levels, one_row), prepared.feasible, layout.tiling, len(layout.table)
    )
    service.policy.q_values = counted
    (decided,) = service.policy.decide([prepared.decision])
    np.testing.assert_array_equal(decided.scores, expected)
    # At most one virtual rack and one leaf group per boundary between two of the ten scores.
    assert asked["rack"] <= 9 and asked["leaf"] <= 9


def test_the_last_decision_shows_the_task_and_context_the_simulator_would_show():
    shape = (2, 1, 5)
    env, _ = env_at_decision(policy_for(shape)[0], 5)
    finished = cluster_history(env, seed=5)
    level_obs = as_the_cluster_knows_it(env, finished)
    service, _ = service_for(shape, env, 5)
    service.run_times.replace(finished_pods(finished))
    assert service.last_decision is None
    _, priorities = call(service, "prioritize", extender_args(env))
    seen = json.loads(json.dumps(service.last_decision))  # as GET /stats answers it
    tail = TASK_FEATURES + CONTEXT_FEATURES + service.env.forecast_horizon
    observed = seen["task_features"] + seen["context_features"]
    np.testing.assert_allclose(observed, level_obs.obs[0][-tail:], atol=1e-5)
    assert seen["answered_by"] == "policy" and seen["verb"] == "prioritize"
    assert seen["top_node"] == max(priorities, key=lambda p: p["Score"])["Host"]
    assert seen["nodes"]["candidates"] == seen["nodes"]["known"] == 10
    assert seen["rows_evaluated"]["cluster"] == 1
    assert seen["pod_inputs"]["forecast_source"].startswith("none")
    # The run time believed of the pod (the simulator's duration_est_s and duration_unc) and
    # what it rests on: the finished pods of its workload with its request shape.
    duration = seen["duration"]
    assert duration["seconds"] == pytest.approx(env.pending["duration_est_s"][0], abs=0.05)
    assert duration["uncertainty"] == pytest.approx(env.pending["duration_unc"][0], abs=1e-4)
    shape_peers = duration["finished_pods"]["owner_shape"]
    assert shape_peers == 20 and duration["finished_pods"]["datacenter"] == 60
    assert (
        duration["source"]
        == f"estimate: {shape_peers} finished pods of its workload with these requests"
    )


@pytest.mark.parametrize("seed", range(4))
def test_best_fit_answers_pick_the_simulator_best_fit_host(seed):
    shape = (2, 2, 4)
    env, _ = env_at_decision(policy_for(shape)[0], seed)
    service, _ = service_for(shape, env, seed, policy=False)
    _, priorities = call(service, "prioritize", extender_args(env))
    scores = [p["Score"] for p in priorities]
    assert scores.index(10) == HEURISTICS["best-fit"]().choose_host(env)[0]


def test_scores_do_not_depend_on_the_order_nodes_arrive_in():
    shape = (2, 2, 4)
    env, _ = env_at_decision(policy_for(shape)[0], 3)
    service, _ = service_for(shape, env, 3)
    args = extender_args(env)
    _, ordered = call(service, "prioritize", args)
    shuffled = copy.deepcopy(args)
    np.random.default_rng(0).shuffle(shuffled["Nodes"]["items"])
    _, answer = call(service, "prioritize", shuffled)
    assert [p["Host"] for p in answer] == [
        n["metadata"]["name"] for n in shuffled["Nodes"]["items"]
    ]
    assert sorted(answer, key=lambda p: p["Host"]) == ordered


def test_fewer_nodes_than_the_policy_shape_are_padded():
    shape = (2, 2, 4)
    env, _ = env_at_decision(policy_for(shape)[0], 4)
    service, _ = service_for(shape, env, 4)
    args = extender_args(env)
    args["Nodes"]["items"] = args["Nodes"]["items"][:3]
    status, priorities = call(service, "prioritize", args)
    assert status == 200 and len(priorities) == 3
    assert sorted(p["Score"] for p in priorities if p["Score"])[-1] == 10


def test_node_names_use_cached_nodes_and_score_unknown_ones_zero():
    shape = (2, 1, 5)
    env, _ = env_at_decision(policy_for(shape)[0], 5)
    service, _ = service_for(shape, env, 5)
    _, full = call(service, "prioritize", extender_args(env))
    names = extender_args(env, names_only=True)
    names["NodeNames"].append("node-new")
    _, by_name = call(service, "prioritize", names)
    assert by_name[:-1] == full and by_name[-1] == {"Host": "node-new", "Score": 0}
    _, passed = call(service, "filter", names)
    assert passed["NodeNames"] == names["NodeNames"]


def deferrable_args(env, created="now"):
    args = extender_args(env)
    meta = args["Pod"]["metadata"]
    meta["annotations"]["marl-alloc.io/deferrable"] = "true"
    meta["annotations"]["marl-alloc.io/defers"] = "0"
    meta["creationTimestamp"] = None if created == "now" else created
    return args


@pytest.fixture(scope="module")
def hold_env():
    shape = (2, 1, 5)
    env, _ = env_at_decision(policy_for(shape)[0], 6)
    return shape, env


def test_deferrable_pods_wait_while_intensity_is_above_the_threshold(hold_env):
    shape, env = hold_env
    service, _ = service_for(shape, env, 6, carbon={"threshold_g_per_kwh": 0.0})
    g = service.intensity.g_per_kwh(env.now[0])
    assert g == pytest.approx(float(env.carbon.at(env.now)[0]))  # the simulator's series
    _, held = call(service, "filter", deferrable_args(env))
    assert held["Nodes"]["items"] == [] and held["FailedNodes"] == {}
    assert len(held["FailedAndUnresolvableNodes"]) == 10
    plain = extender_args(env)
    plain["Pod"]["metadata"]["annotations"]["marl-alloc.io/deferrable"] = "false"
    _, passed = call(service, "filter", plain)
    assert len(passed["Nodes"]["items"]) == 10 and passed["FailedAndUnresolvableNodes"] == {}
    stats = service.metrics.snapshot()
    assert stats["counts"]["deferrable/held"] == 1 and stats["carbon_g_per_kwh"] == g
    clean, _ = service_for(shape, env, 6, carbon={"threshold_g_per_kwh": g + 1})
    _, released = call(clean, "filter", deferrable_args(env))
    assert len(released["Nodes"]["items"]) == 10
    assert clean.metrics.snapshot()["counts"]["deferrable/released"] == 1


def created_ago(env, seconds: float) -> str:
    at = dt.datetime.fromtimestamp(float(env.now[0]) - seconds, dt.UTC)
    return at.isoformat().replace("+00:00", "Z")


def test_the_threshold_holds_a_pod_at_most_max_hold_s(hold_env):
    shape, env = hold_env
    service, _ = service_for(shape, env, 6, carbon={"threshold_g_per_kwh": 0.0})
    # Default limit: the simulator's deadline for deferrable tasks minus one defer delay.
    limit = 7200.0 - 900.0
    young = deferrable_args(env, created=created_ago(env, limit - 60))
    assert call(service, "filter", young)[1]["Nodes"]["items"] == []
    old = deferrable_args(env, created=created_ago(env, limit + 60))
    assert len(call(service, "filter", old)[1]["Nodes"]["items"]) == 10
    short, _ = service_for(shape, env, 6, carbon={"threshold_g_per_kwh": 0.0, "max_hold_s": 30})
    assert len(call(short, "filter", young)[1]["Nodes"]["items"]) == 10
    never, _ = service_for(shape, env, 6, carbon={"threshold_g_per_kwh": 0.0, "hold_by": "never"})
    assert len(call(never, "filter", deferrable_args(env))[1]["Nodes"]["items"]) == 10


def test_the_policy_holds_only_while_its_defer_action_is_allowed(hold_env):
    shape, env = hold_env
    service, _ = service_for(shape, env, 6, carbon={"hold_by": "policy"})
    spent = deferrable_args(env)
    spent["Pod"]["metadata"]["annotations"]["marl-alloc.io/defers"] = "4"  # env.max_defers
    prepared = service.prepare("filter", spent)
    assert not prepared.can_defer and prepared.decision is None
    q = PolicyAnswer(cluster_q=np.full((1, shape[0] + 1), 1e9))  # whatever the Q values say
    assert len(service.answer(prepared, q)["Nodes"]["items"]) == 10


def test_policy_mode_holds_when_the_cluster_level_prefers_to_defer(hold_env):
    shape, env = hold_env
    service, _ = service_for(shape, env, 6, carbon={"hold_by": "policy"})
    prepared = service.prepare("filter", deferrable_args(env))
    (decided,) = service.policy.decide([prepared.decision])
    prefers_defer = int(np.argmax(decided.cluster_q[0])) == shape[0]
    _, answer = call(service, "filter", deferrable_args(env))
    assert (answer["Nodes"]["items"] == []) == prefers_defer
    decided.cluster_q[:, shape[0]] = 1e9  # make the defer action the best
    assert service.answer(prepared, decided)["Nodes"]["items"] == []


def test_unfit_nodes_are_filtered_only_when_asked(hold_env):
    shape, env = hold_env
    args = extender_args(env)
    args["Pod"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "60"
    service, _ = service_for(shape, env, 6)
    assert call(service, "filter", args)[1]["FailedNodes"] == {}
    strict, _ = service_for(shape, env, 6, filter_unfit_nodes=True)
    failed = call(strict, "filter", args)[1]["FailedNodes"]
    cpu_free = env.hosts.cpu_capacity[0] - env.hosts.cpu_requested[0]
    assert sorted(failed) == [f"node-{i:04d}" for i in np.flatnonzero(cpu_free * 64 < 60)]


def test_a_policy_for_another_topology_is_refused(hold_env):
    _, env = hold_env
    _, module = policy_for((2, 2, 4))
    other = small_settings(3, 2, 4)
    with pytest.raises(UserError, match="do not match"):
        ExtenderService(ServeConfig(), other.env, LevelQPolicy(module))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:2]):
            yield from _paths(value, (*prefix, i))


@pytest.fixture(scope="module")
def fuzz_target(hold_env):
    shape, env = hold_env
    service, _ = service_for(shape, env, 6)
    args = extender_args(env)
    args["Nodes"]["items"] = args["Nodes"]["items"][:2]
    return service, json.dumps(args)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_corruption_of_a_request_is_a_400_or_an_answer_never_a_crash(fuzz_target, data):
    service, valid = fuzz_target
    args = json.loads(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(args))[1:]))
        parent = args
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(JSON_VALUES)
        except (IndexError, KeyError, TypeError):
            continue
    verb = data.draw(st.sampled_from(["filter", "prioritize"]))
    status, answer = call(service, verb, json.dumps(args).encode())
    assert status in (200, 400)
    if status == 400:
        assert isinstance(answer["Error"], str) and answer["Error"]
    elif verb == "prioritize":
        assert all(0 <= p["Score"] <= 10 for p in answer)


def test_an_oracle_trained_checkpoint_is_refused_with_one_line():
    shape = (2, 1, 5)
    settings, module = policy_for(shape)
    oracle = dataclasses.replace(
        settings.env, knowledge=dataclasses.replace(settings.env.knowledge, durations="oracle")
    )
    with pytest.raises(UserError, match="no cluster knows") as err:
        ExtenderService(ServeConfig(), oracle, LevelQPolicy(module))
    assert "\n" not in str(err.value)
