"""Node and Pod objects to simulator columns."""

import pytest

from envs.hosts import BOOTING, OFF, ON
from marl_alloc.serving.config import AnnotationConfig, LabelConfig, PodConfig
from marl_alloc.serving.kube_objects import (
    effective_requests,
    parse_node,
    parse_pod,
    priority_class,
)
from marl_alloc.serving.protocol import RequestError

GI = 2**30


def node(**status):
    return {
        "metadata": {
            "name": "n1",
            "labels": {"topology.kubernetes.io/zone": "z1", "marl-alloc.io/rack": "r7"},
            "annotations": {
                "marl-alloc.io/cpu-requested": "3500m",
                "marl-alloc.io/memory-requested": "6Gi",
                "marl-alloc.io/cpu-usage": "2",
            },
        },
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi"},
            "allocatable": {"cpu": "15800m", "memory": "62Gi"},
            **status,
        },
    }


def test_node_reads_allocatable_labels_and_load_annotations():
    row = parse_node(node(), LabelConfig(), AnnotationConfig())
    assert (row.name, row.zone, row.rack) == ("n1", "z1", "r7")
    assert row.cpu_capacity == pytest.approx(15.8) and row.mem_capacity == 62 * GI
    assert row.cpu_requested == 3.5 and row.mem_requested == 6 * GI and row.cpu_usage == 2.0
    assert row.power_state == ON


def test_node_falls_back_to_capacity_zone_as_rack_and_ready_condition():
    n = node(conditions=[{"type": "Ready", "status": "False"}])
    del n["status"]["allocatable"]
    del n["metadata"]["labels"]["marl-alloc.io/rack"]
    n["metadata"]["annotations"] = {}
    row = parse_node(n, LabelConfig(), AnnotationConfig())
    assert row.cpu_capacity == 16 and row.rack == "z1" and row.cpu_requested == 0
    assert row.power_state == OFF
    n["metadata"]["annotations"]["marl-alloc.io/power-state"] = "Booting"
    assert parse_node(n, LabelConfig(), AnnotationConfig()).power_state == BOOTING


@pytest.mark.parametrize(
    "change",
    [
        lambda n: n["status"].pop("allocatable") and n["status"].pop("capacity"),
        lambda n: n["status"]["allocatable"].update(cpu="many"),
        lambda n: n["status"]["allocatable"].update(cpu="0"),
        lambda n: n["metadata"]["annotations"].update({"marl-alloc.io/cpu-usage": "-1"}),
        lambda n: n["metadata"]["annotations"].update({"marl-alloc.io/power-state": "asleep"}),
        lambda n: n["metadata"].update(labels=["zone"]),
    ],
)
def test_bad_nodes_are_request_errors_naming_the_node(change):
    n = node()
    change(n)
    with pytest.raises(RequestError, match="n1"):
        parse_node(n, LabelConfig(), AnnotationConfig())


def container(cpu=None, mem=None, limits=None, **extra):
    requests = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
    return {"name": "c", "resources": {"requests": requests, "limits": limits or {}}, **extra}


def test_effective_requests_follow_kube_scheduler():
    spec = {"containers": [container("500m", "1Gi"), container("1", "2Gi")]}
    assert effective_requests(spec) == (1.5, 3 * GI)
    # A big init container dominates; a missing request defaults to the limit.
    spec["initContainers"] = [container(limits={"cpu": "4", "memory": "1Gi"})]
    assert effective_requests(spec) == (4.0, 3 * GI)
    # Sidecars (restartable init containers) add to the steady state and to later inits.
    spec["initContainers"] = [
        container("250m", "512Mi", restartPolicy="Always"),
        container("1500m", "1Gi"),
    ]
    assert effective_requests(spec) == (1.75, 3.5 * GI)
    spec["overhead"] = {"cpu": "250m", "memory": "512Mi"}
    assert effective_requests(spec) == (2.0, 4 * GI)
    spec["resources"] = {"requests": {"cpu": "3"}}  # pod-level resources replace the sum
    assert effective_requests(spec) == (3.25, 4 * GI)


def test_pod_annotations_priority_and_creation_time():
    pod = {
        "metadata": {
            "name": "batch-1",
            "namespace": "jobs",
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "annotations": {
                "marl-alloc.io/deferrable": "True",
                # Ignored: the simulator knows no declared run time (serving.pod_durations).
                "marl-alloc.io/expected-duration-seconds": "3600",
                "marl-alloc.io/defers": "2",
            },
        },
        "spec": {"priority": 1000, "containers": [container("2", "4Gi")]},
    }
    task = parse_pod(pod, AnnotationConfig(), PodConfig(), max_priority=2)
    assert (task.cpu, task.mem, task.defers) == (2.0, 4 * GI, 2)
    assert task.deferrable and task.priority == 2
    assert task.created_s == 1714564800.0
    pod["metadata"]["annotations"] = {}
    pod["spec"]["priority"] = 0
    plain = parse_pod(pod, AnnotationConfig(), PodConfig(), max_priority=2)
    assert not plain.deferrable and plain.defers == 0 and plain.priority == 0


@pytest.mark.parametrize(
    ("priority", "expected"), [(-5, 0), (0, 0), (1, 1), (999, 1), (1000, 2), (2_000_000_000, 2)]
)
def test_priority_classes(priority, expected):
    assert priority_class(priority, [1, 1000], max_priority=2) == expected
    assert priority_class(priority, [1, 1000], max_priority=1) == min(expected, 1)


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"containers": "c"},
        {"containers": [container("-1")]},
        {"containers": [container("1")], "priority": "high"},
        {"containers": [7]},
    ],
)
def test_bad_pods_are_request_errors(spec):
    with pytest.raises(RequestError):
        parse_pod({"metadata": {"name": "p"}, "spec": spec}, AnnotationConfig(), PodConfig(), 2)


def test_bad_pod_annotations_and_timestamps_are_request_errors():
    pod = {"metadata": {"annotations": {"marl-alloc.io/defers": "x"}}, "spec": {"containers": []}}
    with pytest.raises(RequestError, match="must be a count, got x"):
        parse_pod(pod, AnnotationConfig(), PodConfig(), 2)
    pod["metadata"]["annotations"]["marl-alloc.io/defers"] = "-1"
    with pytest.raises(RequestError, match=">= 0"):
        parse_pod(pod, AnnotationConfig(), PodConfig(), 2)
    pod = {"metadata": {"creationTimestamp": "yesterday"}, "spec": {"containers": []}}
    with pytest.raises(RequestError, match="RFC 3339"):
        parse_pod(pod, AnnotationConfig(), PodConfig(), 2)
