"""Real HTTP against a local Ray Serve app: Kubernetes-shaped requests, answers checked against
the same policy stepping the simulator on the same state."""

import json

import pytest
import requests

from envs.observations import TASK_FEATURES
from marl_alloc.policy import ModulePolicy
from marl_alloc.policy.checkpoint import load_policy
from marl_alloc.serving.policy import LevelQPolicy
from marl_alloc.serving.service import ExtenderService
from tests.marl_alloc.serving.kube_state import extender_args, simulated_pick

pytestmark = pytest.mark.ray
TIMEOUT_S = 30


def post(url: str, body) -> requests.Response:
    data = body if isinstance(body, bytes) else None
    return requests.post(url, data=data, json=None if data else body, timeout=TIMEOUT_S)


def top_host(priorities: list[dict]) -> str:
    best = max(p["Score"] for p in priorities)
    winners = [p["Host"] for p in priorities if p["Score"] == best]
    assert len(winners) == 1, "the policy's choice must be the only host scored 10"
    return winners[0]


def test_prioritize_puts_the_simulated_policy_choice_first(extender_url, ten):
    args = extender_args(ten.env)
    reply = post(f"{extender_url}/prioritize", args)
    assert reply.status_code == 200
    priorities = reply.json()
    hosts = [n["metadata"]["name"] for n in args["Nodes"]["items"]]
    assert [p["Host"] for p in priorities] == hosts
    assert all(set(p) == {"Host", "Score"} and 0 <= p["Score"] <= 10 for p in priorities)
    policy = ModulePolicy(load_policy(ten.checkpoint)[0])
    assert top_host(priorities) == f"node-{simulated_pick(ten.env, policy):04d}"


def test_a_thousand_nodes_get_the_in_process_answer(extender_url, extender_config, thousand):
    """HTTP and batching change nothing: the answer is ExtenderService's on the same request
    (whose ranking test_service checks against the simulator at 1,000 hosts)."""
    args = extender_args(thousand.env)
    reply = post(f"{extender_url}/prioritize", args)
    assert reply.status_code == 200
    policy, settings = LevelQPolicy.from_checkpoint(str(thousand.checkpoint))
    service = ExtenderService(extender_config, settings.env, policy)
    status, expected = service.handle("prioritize", json.dumps(args).encode())
    assert status == 200 and reply.json() == json.loads(expected)
    scores = [p["Score"] for p in reply.json()]
    assert len(scores) == 1000 and scores.count(10) == 1 and min(scores) >= 0


def test_node_names_requests_use_the_nodes_seen_before(extender_url, ten):
    full = post(f"{extender_url}/prioritize", extender_args(ten.env)).json()
    by_name = post(f"{extender_url}/prioritize", extender_args(ten.env, names_only=True))
    assert by_name.status_code == 200
    assert by_name.json() == full


def test_filter_holds_deferrable_pods_back_and_passes_the_others(extender_url, ten):
    args = extender_args(ten.env)
    args["Pod"]["metadata"]["creationTimestamp"] = None  # arrives now
    names = [n["metadata"]["name"] for n in args["Nodes"]["items"]]
    args["Pod"]["metadata"]["annotations"]["marl-alloc.io/deferrable"] = "true"
    held = post(f"{extender_url}/filter", args).json()
    assert held["Nodes"]["items"] == []
    assert sorted(held["FailedAndUnresolvableNodes"]) == sorted(names)
    assert "held back: grid intensity" in held["FailedAndUnresolvableNodes"][names[0]]
    assert held["Error"] == ""
    args["Pod"]["metadata"]["annotations"]["marl-alloc.io/deferrable"] = "false"
    passed = post(f"{extender_url}/filter", args).json()
    assert passed["Nodes"]["items"] == args["Nodes"]["items"]
    assert passed["FailedNodes"] == {} and passed["FailedAndUnresolvableNodes"] == {}
    names_only = extender_args(ten.env, names_only=True)
    assert post(f"{extender_url}/filter", names_only).json()["NodeNames"] == names
    stats = requests.get(f"{extender_url}/stats", timeout=TIMEOUT_S).json()
    assert stats["counts"]["deferrable/held"] >= 1
    assert stats["carbon_g_per_kwh"] > 0 and stats["holding_deferrable_pods"] is True
    assert stats["run_times"] == {
        "finished_pods": 0,
        "skipped": 0,
        "knowledge": "estimate",
        "finished_pods_learnt": 0,
        "kept": 0,
    }


def test_stats_show_the_last_policy_decision(extender_url, ten):
    priorities = post(f"{extender_url}/prioritize", extender_args(ten.env)).json()
    seen = requests.get(f"{extender_url}/stats", timeout=TIMEOUT_S).json()["last_decision"]
    assert seen["verb"] == "prioritize" and seen["answered_by"] == "policy"
    assert seen["top_node"] == max(priorities, key=lambda p: p["Score"])["Host"]
    assert len(seen["task_features"]) == TASK_FEATURES and seen["nodes"]["candidates"] == 10
    # No pod has finished: the run time is the prior of the checkpoint's env.knowledge.
    assert seen["duration"]["source"].startswith("estimate: the prior")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"Pod": {}}',
        b'{"Pod": "x", "Nodes": {"items": []}}',
        b'{"Pod": {"spec": {"containers": []}}, "Nodes": {"items": [{"metadata": {}}]}}',
        b'{"Pod": {"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}},'
        b' "NodeNames": []}',
    ],
)
def test_malformed_requests_get_400_with_a_json_error(extender_url, body):
    for verb in ("filter", "prioritize"):
        reply = post(f"{extender_url}/{verb}", body)
        assert reply.status_code == 400
        assert reply.json()["Error"]


def test_health_and_unknown_routes(extender_url):
    assert requests.get(f"{extender_url}/healthz", timeout=TIMEOUT_S).json() == {
        "ok": True,
        "policy": "checkpoint",
    }
    missing = requests.post(f"{extender_url}/preempt", json={}, timeout=TIMEOUT_S)
    assert missing.status_code == 404 and missing.json()["Error"]
    assert requests.get(f"{extender_url}/filter", timeout=TIMEOUT_S).status_code == 405
