"""serve.node_source=watch over real HTTP: a replica whose node cache follows a fake API server
answers NodeNames-only calls (nodeCacheCapable: true) as the full-Node calls, and fails the
nodes its watch has not seen."""

import time

import pytest
import requests

from marl_alloc.serving.service import UNKNOWN_NODE
from tests.marl_alloc.serving.conftest import app_config
from tests.marl_alloc.serving.fake_kube_api import FakeNodeApi, event
from tests.marl_alloc.serving.kube_state import extender_args, node_objects

pytestmark = pytest.mark.ray
TIMEOUT_S = 30


def stats(url: str) -> dict:
    return requests.get(f"{url}/stats", timeout=TIMEOUT_S).json()


@pytest.fixture(scope="module")
def watch_api(ten):
    server = FakeNodeApi(node_objects(ten.env)).start()
    yield server
    server.scripts.put([])
    server.close()


@pytest.fixture(scope="module")
def watch_url(extender_url, extender_config, watch_api, ten):
    """The extender app again at /watch, its nodes from the fake API server's watch (in the
    Serve instance of extender_url)."""
    from ray import serve

    from marl_alloc.serving.app import build_app

    config = app_config(
        ten,
        carbon={"threshold_g_per_kwh": 0.0},
        node_source="watch",
        kube_api={"api_server": watch_api.url},
    )
    quiet = {"enable_access_log": False, "log_level": "WARNING"}
    serve.run(
        build_app(config, str(ten.checkpoint)),
        name="watch",
        route_prefix="/watch",
        logging_config=quiet,
    )
    url = extender_url.rsplit("/", 1)[0] + "/watch"
    deadline = time.monotonic() + TIMEOUT_S
    while stats(url)["node_cache"]["nodes"] != len(watch_api.nodes):
        assert time.monotonic() < deadline, "the replica's informer did not list the nodes"
        time.sleep(0.1)
    yield url
    serve.delete("watch")


def test_node_names_get_the_full_node_answer(extender_url, watch_url, ten):
    full = requests.post(f"{extender_url}/prioritize", json=extender_args(ten.env), timeout=30)
    names_only = extender_args(ten.env, names_only=True)
    by_name = requests.post(f"{watch_url}/prioritize", json=names_only, timeout=TIMEOUT_S)
    assert by_name.status_code == 200 and full.status_code == 200
    assert by_name.json() == full.json()
    node_cache = stats(watch_url)["node_cache"]
    assert node_cache["source"] == "watch" and node_cache["synced"]
    assert node_cache["nodes"] == 10 and node_cache["last_event_age_s"] >= 0
    health = requests.get(f"{watch_url}/healthz", timeout=TIMEOUT_S)
    assert health.status_code == 200 and health.json()["nodes_synced"] is True


def test_a_replica_that_cannot_list_the_nodes_is_not_healthy(extender_url, ten):
    from ray import serve

    from marl_alloc.serving.app import build_app

    # Nothing listens on port 9 (discard): the informer keeps retrying and never syncs.
    config = app_config(ten, node_source="watch", kube_api={"api_server": "http://127.0.0.1:9"})
    serve.run(build_app(config, str(ten.checkpoint)), name="nolist", route_prefix="/nolist")
    try:
        url = extender_url.rsplit("/", 1)[0] + "/nolist"
        health = requests.get(f"{url}/healthz", timeout=TIMEOUT_S)
        assert health.status_code == 503
        assert health.json()["ok"] is False and health.json()["nodes_synced"] is False
    finally:
        serve.delete("nolist")


def test_unknown_nodes_fail_the_filter_until_the_watch_adds_them(watch_url, watch_api, ten):
    args = extender_args(ten.env, names_only=True)
    args["Pod"]["metadata"]["annotations"]["marl-alloc.io/deferrable"] = "false"
    args["NodeNames"].append("node-new")
    answer = requests.post(f"{watch_url}/filter", json=args, timeout=TIMEOUT_S)
    assert answer.status_code == 200
    assert answer.json()["FailedNodes"] == {"node-new": UNKNOWN_NODE}
    assert answer.json()["NodeNames"] == args["NodeNames"][:-1]
    scores = requests.post(f"{watch_url}/prioritize", json=args, timeout=TIMEOUT_S).json()
    assert scores[-1] == {"Host": "node-new", "Score": 0}
    added = {**node_objects(ten.env)[0], "metadata": {"name": "node-new"}}
    watch_api.scripts.put([event("ADDED", added)])
    deadline = time.monotonic() + TIMEOUT_S
    while stats(watch_url)["node_cache"]["nodes"] != 11:
        assert time.monotonic() < deadline, "the watch event did not reach the replica"
        time.sleep(0.05)
    answer = requests.post(f"{watch_url}/filter", json=args, timeout=TIMEOUT_S).json()
    assert answer["FailedNodes"] == {} and answer["NodeNames"] == args["NodeNames"]
