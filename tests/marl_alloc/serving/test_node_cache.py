"""Parsed nodes kept between calls: a node is parsed again only when its resourceVersion moves."""

import json

import msgspec
import pytest

from marl_alloc.serving.config import AnnotationConfig, LabelConfig
from marl_alloc.serving.node_cache import NodeCache
from marl_alloc.serving.protocol import NodeKey, RequestError


def node(name: str, version: str = "1", requested: str = "1") -> dict:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": version,
            "annotations": {"marl-alloc.io/cpu-requested": requested},
        },
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi"}},
    }


class Nodes:
    """A Nodes list as NodeCache.table takes it; counts how often the objects were decoded."""

    def __init__(self, *objects: dict):
        self.keys = [
            NodeKey(o["metadata"]["name"], o["metadata"].get("resourceVersion", ""))
            for o in objects
        ]
        self.raws = [msgspec.Raw(json.dumps(o).encode()) for o in objects]
        self.decoded = 0

    def raw_nodes(self) -> list[msgspec.Raw]:
        self.decoded += 1
        return self.raws


def cache(size: int = 10) -> NodeCache:
    return NodeCache(size, LabelConfig(), AnnotationConfig())


def table(nodes: NodeCache, *objects: dict) -> tuple[object, int]:
    request = Nodes(*objects)
    return nodes.table(request.keys, request.raw_nodes), request.decoded


def test_the_same_nodes_at_the_same_versions_are_not_decoded_again():
    nodes = cache()
    first, decoded = table(nodes, node("a"), node("b"))
    assert decoded == 1 and first.names == ["a", "b"]
    again, decoded = table(nodes, node("a"), node("b"))
    assert again is first and decoded == 0
    reordered, decoded = table(nodes, node("b"), node("a"))
    assert reordered.names == ["b", "a"] and decoded == 0


def test_a_new_resource_version_is_parsed_again():
    nodes = cache()
    table(nodes, node("a"), node("b"))
    changed, decoded = table(nodes, node("a", version="2", requested="3"), node("b"))
    assert decoded == 1 and list(changed.cpu_requested) == [3.0, 1.0] and len(nodes) == 2
    (a, b, c) = nodes.lookup(["a", "b", "c"])
    assert a.cpu_requested == 3.0 and b.cpu_requested == 1.0 and c is None


def test_objects_without_a_resource_version_are_parsed_every_time():
    nodes = cache()
    table(nodes, node("a", version=""))
    changed, decoded = table(nodes, node("a", version="", requested="2"))
    assert decoded == 1 and list(changed.cpu_requested) == [2.0]
    assert nodes.lookup(["a"])[0].cpu_requested == 2.0


def test_node_names_see_the_remembered_rows_patched_where_they_changed():
    nodes = cache()
    table(nodes, node("a"), node("b"))
    cluster, rows = nodes.cluster_view(["b", "x", "a"])
    assert [cluster.names[i] if i >= 0 else None for i in rows] == ["b", None, "a"]
    again, _ = nodes.cluster_view(["b", "x", "a"])
    assert again is cluster
    table(nodes, node("a", version="2", requested="5"))
    patched, rows = nodes.cluster_view(["b", "x", "a"])
    assert patched is not cluster and patched.cpu_requested[rows[2]] == 5.0
    # Nothing moved between racks: the patched table keeps the lists a layout's order is of.
    assert patched.names is cluster.names and patched.racks is cluster.racks
    assert cluster.cpu_requested[rows[2]] == 1.0  # tables already handed out stay as they were
    moved = node("b", version="2")
    moved["metadata"]["labels"] = {"marl-alloc.io/rack": "r9"}
    table(nodes, moved)
    relabeled, _ = nodes.cluster_view(["a", "b"])
    assert relabeled.names is patched.names and relabeled.racks is not patched.racks
    table(nodes, node("c"))
    grown, rows = nodes.cluster_view(["c"])
    assert sorted(grown.names) == ["a", "b", "c"] and grown.names[rows[0]] == "c"


def test_the_least_recently_seen_nodes_are_forgotten():
    nodes = cache(size=2)
    table(nodes, node("a"), node("b"))
    table(nodes, node("a"))
    table(nodes, node("c"))
    assert [row is not None for row in nodes.lookup(["a", "b", "c"])] == [True, False, True]
    off = cache(size=0)
    table(off, node("a"))
    assert len(off) == 0 and off.lookup(["a"]) == [None]


def test_a_node_listed_twice_is_a_request_error():
    with pytest.raises(RequestError, match="twice"):
        table(cache(), node("a"), node("a"))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"metadata": {"name": "z", "labels": {"rack": 1}}}, "labels"),
        (
            {"metadata": {"name": "z"}, "status": {"allocatable": {"cpu": "x", "memory": "1"}}},
            "node 'z'",
        ),
    ],
)
def test_bad_node_objects_are_request_errors(item, message):
    with pytest.raises(RequestError, match=message):
        table(cache(), node("a"), item)
