"""The informers through the `kubernetes` client against recorded kube-apiserver traffic
(apiserver_replay: no live API server can run here): nodes listed, watched with MODIFIED /
DELETED / BOOKMARK, a 410 Gone on resuming, relisted, an ERROR event (410) in the stream,
relisted; finished pods listed and watched through a field selector; and what the client
sends."""

import threading
import time
from collections.abc import Callable

from marl_alloc.floor.settings.env import KnowledgeConfig
from marl_alloc.serving.config import AnnotationConfig, LabelConfig
from marl_alloc.serving.informer import Informer
from marl_alloc.serving.kube_api import KubeApi
from marl_alloc.serving.node_cache import NodeCache
from marl_alloc.serving.pod_durations import PodDurations
from marl_alloc.serving.run_times import PodRunTimes
from tests.marl_alloc.serving.apiserver_replay import ApiServerReplay, Exchange

WAIT_S = 10.0
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.e30.c2lnbmF0dXJl"


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the informer did not get there in time"
        time.sleep(0.01)


def cpu_requested(cache: NodeCache) -> dict[str, float]:
    names = sorted(cache.names())
    return {name: row.cpu_requested for name, row in zip(names, cache.lookup(names), strict=True)}


def test_the_informer_follows_list_watch_410_and_error_events(tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    before_gone, before_third_list = threading.Event(), threading.Event()
    server = ApiServerReplay(
        [
            Exchange(document="list_1042.json"),
            Exchange(stream="watch_from_1042.jsonl"),
            Exchange(status=410, document="gone_1100.json", gate=before_gone),
            Exchange(document="list_1600.json"),
            Exchange(stream="watch_from_1600.jsonl"),
            Exchange(document="list_2300.json", gate=before_third_list),
            Exchange(hold=True),
        ]
    )
    cache = NodeCache(None, LabelConfig(), AnnotationConfig())
    api = KubeApi.connect(server.url, token_file=str(token), timeout_s=5)
    informer = Informer(api, "nodes", cache, max_backoff_s=0.2).start(refresh_s=0.05)
    try:
        # Listed at 1042; MODIFIED kind-worker2, DELETED kind-worker3, BOOKMARK at 1100.
        wait_for(lambda: informer.resource_version == "1100")
        assert cpu_requested(cache) == {"kind-worker": 2.5, "kind-worker2": 6.5}
        before_gone.set()
        # Resuming at 1100 is a 410: listed again at 1600, then kind-worker5 ADDED and an
        # ERROR event (410) in the stream.
        wait_for(lambda: len(server.requests) == 6)
        assert cache.names() == {"kind-worker", "kind-worker2", "kind-worker4", "kind-worker5"}
        assert informer.lists == 2
        before_third_list.set()
        wait_for(lambda: informer.lists == 3 and len(server.requests) == 7)
        assert cpu_requested(cache) == {"kind-worker": 7.0}
        assert informer.resource_version == "2300" and informer.synced
    finally:
        informer.stop()
        server.close()
    requests = server.requests
    assert [r.path for r in requests] == ["/api/v1/nodes"] * 7
    lists = [r.query for r in requests if "watch" not in r.query]
    watches = [r.query for r in requests if "watch" in r.query]
    assert len(lists) == 3 and all(query == {} for query in lists)
    assert [w["resourceVersion"] for w in watches] == ["1042", "1100", "1600", "2300"]
    for query in watches:
        assert query["watch"] == "true" and query["allowWatchBookmarks"] == "true"
        assert query["timeoutSeconds"] == "300"
    assert {r.headers["authorization"] for r in requests} == {f"Bearer {TOKEN}"}
    assert {r.headers["accept"] for r in requests} == {"application/json"}


def test_finished_pods_are_listed_and_watched_with_a_field_selector():
    server = ApiServerReplay(
        [
            Exchange(document="pods_list_5120.json"),
            Exchange(stream="pods_watch_from_5120.jsonl"),
            Exchange(hold=True),
        ]
    )
    durations = PodDurations(KnowledgeConfig(), kept=100)
    run_times = PodRunTimes([1, 1000], max_priority=2, durations=durations)
    api = KubeApi.connect(server.url, timeout_s=5)
    informer = Informer(api, "pods", run_times, max_backoff_s=0.2).start(refresh_s=0.05)
    try:
        wait_for(lambda: informer.resource_version == "5200" and len(server.requests) == 3)
    finally:
        informer.stop()
        server.close()
    # Listed: a 40-minute Succeeded and a 30-minute Failed pod; watched: a 20-minute one ADDED
    # (it just matched the selector), the first DELETED (counted once).
    assert len(run_times) == 3 and informer.snapshot()["pods"] == 3
    # A new pod of Job etl-0414 (2 cores, 4 GiB, priority 0) is estimated from them.
    belief = durations.believe("batch/Job/etl-0414", 0, 2.0, 4 * 2**30)
    assert belief.finished_pods == {"datacenter": 3, "class": 3, "owner": 1, "owner_shape": 1}
    assert belief.source == "estimate: 1 finished pod of its workload with these requests"
    selectors = {r.query.get("fieldSelector") for r in server.requests}
    assert selectors == {"status.phase!=Pending,status.phase!=Running,status.phase!=Unknown"}
    assert all(r.path == "/api/v1/pods" for r in server.requests)
