"""The node Informer against a fake API server: the list, then ADDED / MODIFIED / DELETED / BOOKMARK
events, a 410 Gone (as a status and as an ERROR event) leading to a relist, and retries."""

import time
from collections.abc import Callable

import pytest

from marl_alloc.floor.errors import UserError
from marl_alloc.serving.config import AnnotationConfig, LabelConfig, ServeConfig
from marl_alloc.serving.informer import Informer
from marl_alloc.serving.kube_api import KubeApi
from marl_alloc.serving.metrics import ExtenderMetrics
from marl_alloc.serving.node_cache import NodeCache
from tests.marl_alloc.serving.fake_kube_api import FakeNodeApi, event, gone_event, is_watch

WAIT_S = 5.0


def node(name: str, version: str, cpu: str = "8") -> dict:
    return {
        "metadata": {"name": name, "resourceVersion": version},
        "status": {"allocatable": {"cpu": cpu, "memory": "32Gi"}},
    }


def bookmark(version: str) -> dict:
    return event("BOOKMARK", {"kind": "Node", "metadata": {"resourceVersion": version}})


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the informer did not get there in time"
        time.sleep(0.01)


def cpu_of(cache: NodeCache, name: str) -> float:
    (row,) = cache.lookup([name])
    return row.cpu_capacity


@pytest.fixture
def api():
    server = FakeNodeApi([node("a", "1"), node("b", "2")]).start()
    yield server
    server.close()


@pytest.fixture
def metrics():
    return ExtenderMetrics()


@pytest.fixture
def informer(api, metrics):
    cache = NodeCache(None, LabelConfig(), AnnotationConfig())
    api_client = KubeApi.connect(api.url, timeout_s=5)
    informer = Informer(api_client, "nodes", cache, metrics.node_cache, max_backoff_s=0.5)
    informer.start(refresh_s=0.05)
    yield informer
    informer.stop()
    api.scripts.put([])  # end the watch the informer is blocked on


def test_the_cache_follows_list_watch_and_relists_on_410(api, informer, metrics):
    cache = informer.sink
    wait_for(lambda: informer.synced)
    assert cache.names() == {"a", "b"} and informer.resource_version == "10"
    api.scripts.put(
        [
            event("ADDED", node("c", "11")),
            event("MODIFIED", node("a", "12", cpu="16")),
            event("DELETED", node("b", "13")),
            bookmark("14"),
        ]
    )
    wait_for(lambda: informer.resource_version == "14")
    assert cache.names() == {"a", "c"} and cpu_of(cache, "a") == 16.0
    watch = next(path for path in api.paths if is_watch(path))
    assert "resourceVersion=10" in watch and "allowWatchBookmarks=true" in watch
    # The stream ended: resumed from 14, answered 410 Gone, so the informer lists again.
    api.nodes, api.resource_version = [node("a", "20", cpu="4"), node("d", "21")], "21"
    api.scripts.put(410)
    wait_for(lambda: informer.lists == 2)
    assert cache.names() == {"a", "d"} and cpu_of(cache, "a") == 4.0
    assert informer.resource_version == "21"
    assert any(is_watch(path) and "resourceVersion=14" in path for path in api.paths)
    # A 410 inside the stream (an ERROR event) relists too.
    api.nodes, api.resource_version = [node("e", "30")], "30"
    api.scripts.put([event("ADDED", node("f", "22")), gone_event()])
    wait_for(lambda: informer.lists == 3)
    assert cache.names() == {"e"}
    snapshot = informer.snapshot()
    assert snapshot["nodes"] == 1 and snapshot["synced"] and snapshot["last_event_age_s"] >= 0
    assert metrics.node_cache_nodes == 1


def test_a_failed_list_is_retried_and_the_age_grows_while_quiet(api, metrics):
    api.list_status = 500
    cache = NodeCache(None, LabelConfig(), AnnotationConfig())
    api_client = KubeApi.connect(api.url, timeout_s=5)
    informer = Informer(api_client, "nodes", cache, metrics.node_cache, max_backoff_s=0.2)
    informer.start(refresh_s=0.05)
    try:
        time.sleep(0.3)
        assert not informer.synced and informer.last_event_age_s() is None
        api.list_status = 200
        wait_for(lambda: informer.synced)
        assert cache.names() == {"a", "b"}
        first = metrics.node_watch_age_s
        wait_for(lambda: metrics.node_watch_age_s > first + 0.1)
    finally:
        informer.stop()
        api.scripts.put([])


def test_watch_needs_an_api_server_outside_a_pod():
    config = ServeConfig.from_mapping({"node_source": "watch"})
    with pytest.raises(UserError, match="node_source=watch .* need the Kubernetes API"):
        KubeApi.from_config(config.kube_api, environ={})
    with pytest.raises(UserError, match="node_source must be one of"):
        ServeConfig.from_mapping({"node_source": "informer"})


def test_a_watch_that_ends_at_once_backs_off_instead_of_spinning(api, informer):
    wait_for(lambda: informer.synced)
    for _ in range(20):
        api.scripts.put([])
    time.sleep(0.6)
    watches = [path for path in api.paths if is_watch(path)]
    assert 2 <= len(watches) <= 4  # 0.5 s of backoff after each quick end
    assert informer.synced and informer.sink.names() == {"a", "b"}
