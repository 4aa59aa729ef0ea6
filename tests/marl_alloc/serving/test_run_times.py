"""Finished pods' run times per workload and priority class: counted once, keyed as pending pods
are looked up, fed by watch events."""

import json

import pytest

from marl_alloc.serving.config import AnnotationConfig, PodConfig
from marl_alloc.serving.kube_api import WatchEvent
from marl_alloc.serving.kube_objects import parse_pod, workload_of
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


def test_a_finished_pod_counts_once_with_its_last_containers_end():
    run_times = PodRunTimes([1, 1000], max_priority=2)
    ends = ("2024-06-01T10:10:00Z", "2024-06-01T10:30:00Z")
    assert run_times.observe(raw(pod("a", ends=ends)))
    assert not run_times.observe(raw(pod("a", ends=ends)))  # the same pod again
    assert not run_times.observe(raw(pod("b", phase="Running", ends=())))
    assert run_times.observe(raw(pod("c", phase="Failed", ends=("2024-06-01T10:20:00Z",))))
    assert run_times.summary(("shop/Deployment/web", 0)) == {
        "workload": "shop/Deployment/web",
        "priority_class": 0,
        "count": 2,
        "median_s": 1500.0,
    }
    assert run_times.snapshot() == {"finished_pods": 2, "workloads": 1}


def test_watch_events_and_lists_feed_it_and_priority_classes_stay_apart():
    run_times = PodRunTimes([1, 1000], max_priority=2)
    run_times.replace([("p1", "5", raw(pod("p1")))])
    run_times.apply(WatchEvent("MODIFIED", "p2", "6", raw(pod("p2", priority=1000))))
    # A pod deleted as it ended: its last state still tells its run time.
    run_times.apply(WatchEvent("DELETED", "p3", "7", raw(pod("p3", priority=1000))))
    assert run_times.summary(("shop/Deployment/web", 0))["count"] == 1
    assert run_times.summary(("shop/Deployment/web", 2))["count"] == 2
    assert len(run_times) == 3


def test_a_pending_pod_is_looked_up_under_its_finished_siblings_key():
    pending = pod("new", phase="Pending", ends=())
    request = parse_pod(pending, AnnotationConfig(), PodConfig(), max_priority=2)
    run_times = PodRunTimes([1, 1000], max_priority=2)
    run_times.observe(raw(pod("done")))
    summary = run_times.summary((request.workload, request.priority))
    assert summary["count"] == 1 and request.duration_source == "default"
