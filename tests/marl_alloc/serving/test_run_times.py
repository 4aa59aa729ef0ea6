"""Finished pods' run times: counted once, keyed as pending pods are, fed by lists and watch
events to the run-time estimate."""

import json

import pytest

from marl_alloc.floor.settings.env import KnowledgeConfig
from marl_alloc.serving.config import AnnotationConfig, PodConfig
from marl_alloc.serving.kube_api import WatchEvent
from marl_alloc.serving.kube_objects import parse_pod, workload_of
from marl_alloc.serving.pod_durations import PodDurations
from marl_alloc.serving.run_times import PodRunTimes

TEMPLATE_HASH = "7d9f8c6b5"


def pod(
    uid: str,
    phase: str = "Succeeded",
    start: str = "2024-06-01T10:00:00Z",
    ends: tuple[str, ...] = ("2024-06-01T10:30:00Z",),
    priority: int = 0,
) -> dict:
    """A pod of Deployment `web` (through its ReplicaSet) in namespace shop."""
    statuses = [
        {"name": f"c{i}", "state": {"terminated": {"exitCode": 0, "finishedAt": end}}}
        for i, end in enumerate(ends)
    ]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": f"web-{TEMPLATE_HASH}-{uid}",
            "generateName": f"web-{TEMPLATE_HASH}-",
            "namespace": "shop",
            "uid": uid,
            "labels": {"app": "web", "pod-template-hash": TEMPLATE_HASH},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"web-{TEMPLATE_HASH}",
                    "uid": "rs-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"priority": priority, "containers": [{"name": "c0", "image": "web:1"}]},
        "status": {"phase": phase, "startTime": start, "containerStatuses": statuses},
    }


def raw(doc: dict) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("labels", "owners", "expected"),
    [
        ({"pod-template-hash": "abc"}, [("ReplicaSet", "web-abc", True)], "ns/Deployment/web"),
        ({}, [("ReplicaSet", "web-abc", True)], "ns/ReplicaSet/web-abc"),
        ({}, [("Job", "backup-28611", True)], "ns/Job/backup-28611"),
        ({}, [("Node", "n1", False), ("StatefulSet", "db", True)], "ns/StatefulSet/db"),
        ({}, [("Whatever", "w", False)], "ns/Whatever/w"),
        ({}, [], "ns/Pod/batch-"),
    ],
)
def test_a_pod_belongs_to_its_controller(labels, owners, expected):
    assert workload_of("ns", "batch-x1", "batch-", labels, owners) == expected


def run_times_and_durations(kept: int = 1000) -> tuple[PodRunTimes, PodDurations]:
    durations = PodDurations(KnowledgeConfig(), kept)
    return PodRunTimes([1, 1000], max_priority=2, durations=durations), durations


def test_a_finished_pod_counts_once_with_its_last_containers_end():
    run_times, _ = run_times_and_durations()
    ends = ("2024-06-01T10:10:00Z", "2024-06-01T10:30:00Z")
    first = run_times.finished(raw(pod("a", ends=ends)))
    assert first is not None and first.run_s == 1800.0
    assert first.workload == "shop/Deployment/web" and first.priority == 0
    assert run_times.finished(raw(pod("a", ends=ends))) is None  # the same pod again
    assert run_times.finished(raw(pod("b", phase="Running", ends=()))) is None
    failed = run_times.finished(raw(pod("c", phase="Failed", ends=("2024-06-01T10:20:00Z",))))
    assert failed is not None and failed.run_s == 1200.0


def test_watch_events_and_lists_teach_the_estimate_and_priority_classes_stay_apart():
    run_times, durations = run_times_and_durations()
    run_times.replace([("p1", "5", raw(pod("p1")))])
    run_times.apply(WatchEvent("MODIFIED", "p2", "6", raw(pod("p2", priority=1000))))
    # A pod deleted as it ended: its last state still tells its run time.
    run_times.apply(WatchEvent("DELETED", "p3", "7", raw(pod("p3", priority=1000))))
    low = durations.believe("shop/Deployment/web", 0, 0.0, 0.0)
    high = durations.believe("shop/Deployment/web", 2, 0.0, 0.0)
    assert low.finished_pods == {"datacenter": 3, "class": 1, "owner": 3, "owner_shape": 3}
    assert high.finished_pods["class"] == 2
    assert len(run_times) == 3 and run_times.snapshot()["finished_pods"] == 3


def test_a_pending_pod_is_estimated_from_its_finished_siblings():
    pending = pod("new", phase="Pending", ends=())
    request = parse_pod(pending, AnnotationConfig(), PodConfig(), max_priority=2)
    run_times, durations = run_times_and_durations()
    before = durations.believe(request.workload, request.priority, request.cpu, request.mem)
    assert before.source.startswith("estimate: the prior")
    run_times.observe([raw(pod("done"))])  # 30 minutes, against a 10-minute prior
    after = durations.believe(request.workload, request.priority, request.cpu, request.mem)
    assert after.finished_pods["owner_shape"] == 1 and after.seconds > before.seconds
    assert after.source == "estimate: 1 finished pod of its workload with these requests"


def test_an_unreadable_finished_pod_is_skipped_and_counted_and_the_rest_are_learnt():
    run_times, _ = run_times_and_durations()
    broken = pod("x")
    broken["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "lots"}}
    late = pod("y", ends=("not a time",))
    learnt = run_times.observe([raw(broken), b"{not json", raw(late), raw(pod("ok"))])
    assert learnt == 1 and run_times.snapshot()["skipped"] == 3
