"""Parsed nodes kept between calls: unchanged objects are not parsed again."""

import json

import msgspec
import pytest

from marl_alloc.serving.config import AnnotationConfig, LabelConfig
from marl_alloc.serving.node_cache import NodeCache
from marl_alloc.serving.protocol import RequestError


def raw(name: str, cpu: str = "8", requested: str = "1") -> msgspec.Raw:
    node = {
        "metadata": {"name": name, "annotations": {"marl-alloc.io/cpu-requested": requested}},
        "status": {"allocatable": {"cpu": cpu, "memory": "32Gi"}},
    }
    return msgspec.Raw(json.dumps(node).encode())


def cache(size: int = 10) -> NodeCache:
    return NodeCache(size, LabelConfig(), AnnotationConfig())


def test_unchanged_nodes_come_from_the_cache_and_changed_ones_are_parsed_again():
    nodes = cache()
    first = nodes.rows([raw("a"), raw("b")])
    again = nodes.rows([raw("a"), raw("b")])
    assert again[0] is first[0] and again[1] is first[1]
    changed = nodes.rows([raw("a", requested="3")])
    assert changed[0].cpu_requested == 3.0 and len(nodes) == 2
    assert nodes.lookup(["a", "b", "c"]) == [changed[0], first[1], None]


def test_the_least_recently_seen_nodes_are_forgotten():
    nodes = cache(size=2)
    nodes.rows([raw("a"), raw("b")])
    nodes.rows([raw("a")])
    nodes.rows([raw("c")])
    assert [row is not None for row in nodes.lookup(["a", "b", "c"])] == [True, False, True]
    off = cache(size=0)
    off.rows([raw("a")])
    assert len(off) == 0 and off.lookup(["a"]) == [None]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (b"7", r"items\[1\]"),
        (b'{"metadata": {"name": ""}}', "metadata.name"),
        (b'{"metadata": {"name": 5}}', "metadata.name"),
        (b'{"metadata": {"name": "z", "labels": {"rack": 1}}}', "labels"),
        (
            b'{"metadata": {"name": "z"}, "status": {"allocatable": {"cpu": "x", "memory": "1"}}}',
            "node 'z'",
        ),
    ],
)
def test_bad_node_objects_are_request_errors(item, message):
    with pytest.raises(RequestError, match=message):
        cache().rows([raw("a"), msgspec.Raw(item)])
