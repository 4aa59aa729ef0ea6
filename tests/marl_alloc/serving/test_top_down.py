"""Top-down scoring gives the scores of the full lexicographic ranking, ties included, from the
Q values of a few rack and leaf rows."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.topology import Topology
from marl_alloc.floor.levels import LEVELS
from marl_alloc.serving.hierarchy import Tiling
from marl_alloc.serving.top_down import TopDownRanking
from tests.marl_alloc.serving.full_scoring import full_scores


def random_tiling(rng: np.random.Generator, top: Topology, fill: float) -> Tiling:
    """Nodes 0..n-1 in random slots of `top`, the other slots padding."""
    real = rng.random(top.num_hosts) < fill
    node_of_slot = np.full(top.num_hosts, -1, np.int64)
    node_of_slot[real] = rng.permutation(int(real.sum()))
    return Tiling(top, node_of_slot)


def random_q(rng: np.random.Generator, top: Topology, distinct: int) -> dict[str, np.ndarray]:
    """Q values of every row of every level, drawn from `distinct` values: few values, many
    ties."""
    shapes = {
        "cluster": (top.num_clusters, top.racks_per_cluster + 1),
        "rack": (top.num_racks, top.leaves_per_rack),
        "leaf": (top.num_leaves, top.hosts_per_leaf),
    }
    return {
        level: rng.integers(0, distinct, shape).astype(np.float32) / 4
        for level, shape in shapes.items()
    }


def top_down(ranking: TopDownRanking, q: dict[str, np.ndarray], asked: dict) -> None:
    for level in LEVELS:
        rows = ranking.rows(level)
        asked[level] = rows
        ranking.refine(level, rows, q[level][rows])


@settings(max_examples=300, deadline=None)
@given(
    shape=st.tuples(*[st.integers(1, 4)] * 4),
    fill=st.floats(0.0, 1.0),
    feasible_share=st.floats(0.0, 1.0),
    distinct=st.sampled_from([1, 2, 3, 1000]),
    seed=st.integers(0, 2**32 - 1),
)
def test_top_down_scores_are_the_full_rankings(shape, fill, feasible_share, distinct, seed):
    rng = np.random.default_rng(seed)
    top = Topology(*shape)
    tiling = random_tiling(rng, top, fill)
    feasible = rng.random(top.num_hosts) < feasible_share
    q = random_q(rng, top, distinct)
    num_rows = int((tiling.node_of_slot >= 0).sum())
    ranking = TopDownRanking(feasible, tiling)
    top_down(ranking, q, {})
    expected = full_scores(q, feasible, tiling, num_rows)
    np.testing.assert_array_equal(ranking.scores(num_rows), expected)


def test_only_rows_that_can_change_a_score_are_evaluated():
    rng = np.random.default_rng(0)
    top = Topology(80, 3, 4, 16)  # about 15,000 host slots
    tiling = random_tiling(rng, top, 0.9)
    feasible = rng.random(top.num_hosts) < 0.8
    q = random_q(rng, top, 10**6)
    asked: dict[str, np.ndarray] = {}
    num_rows = int((tiling.node_of_slot >= 0).sum())
    ranking = TopDownRanking(feasible, tiling)
    top_down(ranking, q, asked)
    np.testing.assert_array_equal(
        ranking.scores(num_rows), full_scores(q, feasible, tiling, num_rows)
    )
    assert len(asked["cluster"]) == top.num_clusters
    # One virtual rack and one leaf group per boundary between two scores (10 scores).
    assert len(asked["rack"]) <= 9 and len(asked["leaf"]) <= 9


def test_one_feasible_host_needs_no_q_values():
    top = Topology(2, 2, 2, 2)
    tiling = Tiling(top, np.arange(top.num_hosts))
    feasible = np.zeros(top.num_hosts, bool)
    feasible[5] = True
    ranking = TopDownRanking(feasible, tiling)
    assert all(len(ranking.rows(level)) == 0 for level in LEVELS)
    assert ranking.scores(top.num_hosts).tolist() == [0] * 5 + [10] + [0] * 10
