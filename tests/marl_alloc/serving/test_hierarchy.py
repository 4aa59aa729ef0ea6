"""Tiling Kubernetes nodes onto the policy's cluster > rack > leaf group > host shape."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from marl_alloc.serving import hierarchy
from marl_alloc.serving.hierarchy import fits, host_columns, rack_order
from marl_alloc.serving.kube_objects import NodeRow, NodeTable
from tests.marl_alloc.serving.full_scoring import loop_tile


def table(nodes: list[tuple[str, str, str]]) -> NodeTable:
    return NodeTable.from_rows(
        [NodeRow(name, zone, rack, 8.0, 32.0, 1.0, 2.0, 0.5, 2) for name, zone, rack in nodes]
    )


def tile(t: NodeTable, racks_per_cluster: int, leaves_per_rack: int, hosts_per_leaf: int):
    """All of the table's nodes tiled."""
    shape = (racks_per_cluster, leaves_per_rack, hosts_per_leaf)
    return hierarchy.tile(rack_order(t), np.arange(len(t)), *shape)


def test_unlabeled_nodes_form_one_rack_filled_in_name_order():
    names = [f"n{i}" for i in (3, 0, 9, 1, 8, 2, 7, 4, 6, 5)]
    t = table([(n, "", "") for n in names])
    tiling = tile(t, racks_per_cluster=2, leaves_per_rack=1, hosts_per_leaf=5)
    assert tiling.topology.num_clusters == 1
    assert [t.names[i] for i in tiling.node_of_slot] == [f"n{i}" for i in range(10)]


def test_racks_fill_whole_leaf_groups_and_zones_whole_clusters():
    nodes = [(f"a1-{i}", "a", "r1") for i in range(5)]
    nodes += [(f"a2-{i}", "a", "r2") for i in range(9)]
    nodes += [("b1-0", "b", "r1")]
    t = table(nodes)
    tiling = tile(t, racks_per_cluster=3, leaves_per_rack=2, hosts_per_leaf=4)
    # zone a: r1 -> 2 leaves = 1 virtual rack, r2 -> 3 leaves = 2 virtual racks: one cluster;
    # zone b: one virtual rack, padded to a cluster of 3.
    assert tiling.topology.num_clusters == 2
    slots = tiling.node_of_slot.reshape(2, 3, 2, 4)
    name = np.vectorize(lambda i: t.names[i] if i >= 0 else "-")
    assert name(slots[0, 0]).tolist() == [["a1-0", "a1-1", "a1-2", "a1-3"], ["a1-4", "-", "-", "-"]]
    assert name(slots[0, 2, 0]).tolist() == ["a2-8", "-", "-", "-"]
    assert (slots[0, 2, 1] == -1).all()
    assert name(slots[1, 0, 0, 0]) == "b1-0" and (slots[1].reshape(-1)[1:] == -1).all()


def test_padding_slots_hold_no_machine_and_never_fit():
    t = table([("n0", "", "")])
    tiling = tile(t, 2, 1, 3)
    hosts = host_columns(t, tiling, cpu_unit=8.0, mem_unit=32.0, cpu_overcommit=1.5)
    assert hosts.cpu_capacity.tolist() == [1.0, 0, 0, 0, 0, 0]
    assert hosts.cpu_alloc.tolist() == [1.5, 0, 0, 0, 0, 0]
    assert hosts.cpu_requested.tolist() == [0.125, 0, 0, 0, 0, 0]
    assert hosts.power_state.tolist() == [2, 0, 0, 0, 0, 0]
    assert fits(hosts, 1.3, 0.0).tolist() == [True, False, False, False, False, False]
    assert not fits(hosts, 0.0, 0.0)[1:].any()


def test_no_nodes_no_slots():
    tiling = tile(table([]), 3, 4, 16)
    assert tiling.topology.num_clusters == 0 and len(tiling.node_of_slot) == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xyz")), min_size=1, max_size=80),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 6),
)
def test_tiling_invariants(places, racks, leaves, hosts):
    nodes = [(f"node-{i:03d}", zone, f"{zone}-{rack}") for i, (zone, rack) in enumerate(places)]
    t = table(nodes)
    tiling = tile(t, racks, leaves, hosts)
    slots = tiling.node_of_slot
    top = tiling.topology
    assert len(slots) == top.num_hosts
    assert sorted(slots[slots >= 0].tolist()) == list(range(len(nodes)))
    zones, rack_of = np.array(t.zones), np.array(t.racks)
    for leaf in slots.reshape(top.num_leaves, hosts):
        real = leaf[leaf >= 0]
        assert len(set(rack_of[real])) <= 1
        assert (real == real[np.argsort(np.array(t.names)[real])]).all()
        # A leaf group is filled from its first slot.
        assert (leaf[: len(real)] >= 0).all()
    for cluster in slots.reshape(top.num_clusters, -1):
        real = cluster[cluster >= 0]
        assert len(real) > 0 and len(set(zones[real])) == 1


@settings(max_examples=100, deadline=None)
@given(
    places=st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("xyz"), st.booleans()),
        min_size=0,
        max_size=80,
    ),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 6)),
    seed=st.integers(0, 1000),
)
def test_tiling_candidates_is_tiling_them_alone_rack_by_rack(places, shape, seed):
    order = np.random.default_rng(seed).permutation(len(places))
    nodes = [
        (f"node-{i:03d}", zone, f"{zone}-{rack}")
        for i, (zone, rack, _) in zip(order, places, strict=True)
    ]
    t = table(nodes)
    chosen = np.array([i for i, (_, _, pick) in enumerate(places) if pick], np.int64)
    fast = hierarchy.tile(rack_order(t), chosen, *shape)
    alone = loop_tile(table([nodes[i] for i in chosen]), *shape)
    assert fast.topology == alone.topology
    expected = np.where(alone.node_of_slot >= 0, chosen[alone.node_of_slot], -1)
    np.testing.assert_array_equal(fast.node_of_slot, expected)
