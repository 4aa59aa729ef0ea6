"""The extender wire format: Go field names out, Go-style (case-insensitive) names in."""

import json

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl_alloc.serving.protocol import (
    HostPriorities,
    NodeKey,
    NodeNamesMemo,
    RequestError,
    encode,
    filter_result,
    go_field,
    parse_extender_args,
)

POD = {"metadata": {"name": "p"}, "spec": {"containers": []}}
NODES = {"kind": "NodeList", "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}


def test_go_fields_match_exactly_first_then_case_insensitively():
    assert go_field({"Pod": 1, "pod": 2}, "Pod") == 1
    assert go_field({"pod": 2}, "Pod") == 2
    assert go_field({"NODENAMES": 3}, "NodeNames") == 3
    assert go_field({}, "Pod") is None


def args_of(doc) -> bytes:
    return json.dumps(doc).encode()


def test_args_with_node_objects_or_names():
    nodes = {
        **NODES,
        "items": [{"metadata": {"name": "a", "resourceVersion": "7"}}, *NODES["items"][1:]],
    }
    args = parse_extender_args(args_of({"Pod": POD, "Nodes": nodes}))
    assert args.node_keys == [NodeKey("a", "7"), NodeKey("b", "")] and args.names == ["a", "b"]
    assert [json.loads(bytes(raw)) for raw in args.raw_nodes] == nodes["items"]
    assert args.node_names is None and args.pod == POD
    lower = parse_extender_args(args_of({"pod": POD, "nodenames": ["x", "y"], "nodes": None}))
    assert lower.node_names == ["x", "y"] and lower.raw_nodes is None and lower.pod == POD
    assert lower.names == ["x", "y"]
    mixed = parse_extender_args(args_of({"Pod": POD, "nodes": NODES}))
    assert len(mixed.raw_nodes) == 2 and mixed.names == ["a", "b"]


def test_filter_result_echoes_the_request_shape_with_go_field_names():
    nodes = {**NODES, "items": [{**NODES["items"][0], "spec": {"x": [1, 2]}}, NODES["items"][1]]}
    args = parse_extender_args(args_of({"Pod": POD, "Nodes": nodes}))
    result = json.loads(encode(filter_result(args, ["a", "b"], ["a"], {"b": "no"}, {})))
    assert set(result) == {
        "Nodes",
        "NodeNames",
        "FailedNodes",
        "FailedAndUnresolvableNodes",
        "Error",
    }
    assert result["Nodes"] == {"items": [nodes["items"][0]]}
    assert result["NodeNames"] is None and result["FailedNodes"] == {"b": "no"}
    by_name = filter_result(
        parse_extender_args(args_of({"Pod": POD, "NodeNames": ["a", "b"]})),
        ["a", "b"],
        ["a"],
        {},
        {},
    )
    assert by_name["NodeNames"] == ["a"] and by_name["Nodes"] is None and by_name["Error"] == ""


def test_host_priorities_use_go_field_names():
    assert HostPriorities().encode(["a", "b"], np.array([10, 0])) == (
        b'[{"Host":"a","Score":10},{"Host":"b","Score":0}]'
    )


NAMES = st.lists(st.text(min_size=1, max_size=12), max_size=30, unique=True)


@given(calls=st.lists(st.tuples(NAMES, st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_host_priorities_are_the_bytes_a_json_encoder_writes(calls):
    priorities = HostPriorities()
    for names, seed in calls:
        for _ in range(2):  # a new list of names, then the same again (the kept JSON)
            scores = np.random.default_rng(seed).integers(0, 11, len(names))
            expected = [
                {"Host": name, "Score": int(s)} for name, s in zip(names, scores, strict=True)
            ]
            assert priorities.encode(list(names), scores) == msgspec.json.encode(expected)
    with pytest.raises(ValueError, match="0..10"):
        priorities.encode(["a"], np.array([11]))


@given(lists=st.lists(NAMES.filter(bool), min_size=1, max_size=4))
def test_remembered_node_names_are_the_names_decoded_afresh(lists):
    memo = NodeNamesMemo()
    for names in lists:
        for _ in range(2):
            body = args_of({"Pod": POD, "NodeNames": names})
            assert parse_extender_args(body, memo).node_names == names
    repeated = args_of({"Pod": POD, "NodeNames": ["a", "a"]})
    for _ in range(2):  # a bad list is never remembered as a good one
        with pytest.raises(RequestError, match="twice"):
            parse_extender_args(repeated, memo)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "Expected `object`"),
        (b'{"Nodes": {"items": []}}', "Pod"),
        (b'{"Pod": [], "NodeNames": []}', "Pod"),
        (b'{"Pod": {}}', "Nodes"),
        (b'{"Pod": {}, "Nodes": []}', r"\$\.Nodes"),
        (b'{"Pod": {}, "Nodes": {"items": 7}}', "items"),
        (b'{"Pod": {}, "NodeNames": "a"}', "NodeNames"),
        (b'{"Pod": {}, "NodeNames": [""]}', "empty"),
        (b'{"Pod": {}, "NodeNames": ["a", "a"]}', "twice"),
        (b'{"Pod": {}, "Nodes": {"items": [{"metadata": {}}, 7]}}', r"items\[1\]"),
        (b'{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": 5}}]}}', "metadata.name"),
        (b'{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": ""}}]}}', "metadata.name"),
        (b'{"Pod": {}, "nodes": {"items": [{"metadata": {}}]}}', "metadata.name"),
    ],
)
def test_malformed_args_are_request_errors(body, message):
    with pytest.raises(RequestError, match=message):
        parse_extender_args(body)
