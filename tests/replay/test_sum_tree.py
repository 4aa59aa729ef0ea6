"""SumTree / MinTree against a brute-force numpy reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay import MinTree, SumTree

capacities = st.integers(min_value=1, max_value=3000)


@st.composite
def tree_updates(draw):
    """A capacity and a few batches of (indices, priorities), duplicates allowed."""
    capacity = draw(capacities)
    batches = []
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, 64))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        indices = rng.integers(0, capacity, size)
        priorities = rng.random(size) * draw(st.sampled_from([1e-6, 1.0, 1e6]))
        batches.append((indices, priorities))
    return capacity, batches


def _reference(capacity, batches):
    leaves = np.zeros(capacity)
    for indices, priorities in batches:
        for i, p in zip(indices, priorities, strict=True):  # sequential: last write wins
            leaves[i] = p
    return leaves


@settings(max_examples=60, deadline=None)
@given(tree_updates())
def test_sums_min_and_leaves_match_reference(case):
    capacity, batches = case
    tree, min_tree = SumTree(capacity), MinTree(capacity)
    for indices, priorities in batches:
        tree.update(indices, priorities)
        min_tree.update(indices, priorities)
    leaves = _reference(capacity, batches)
    assert tree.total() == pytest.approx(leaves.sum(), rel=1e-12)
    np.testing.assert_array_equal(tree.get(np.arange(capacity)), leaves)
    written = np.unique(np.concatenate([i for i, _ in batches]))
    assert min_tree.min() == leaves[written].min()


@settings(max_examples=60, deadline=None)
@given(tree_updates(), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_sample_matches_stratified_prefix_search(case, n, seed):
    capacity, batches = case
    tree = SumTree(capacity)
    for indices, priorities in batches:
        tree.update(indices, priorities)
    leaves = _reference(capacity, batches)
    sampled = tree.sample(n, np.random.default_rng(seed))
    assert sampled.shape == (n,) and sampled.dtype == np.int64
    assert (leaves[sampled] > 0).all(), "a zero-priority leaf was sampled"
    # Same draws through a brute-force prefix search; ties at boundaries may differ by rounding.
    total = leaves.sum()
    targets = (np.arange(n) + np.random.default_rng(seed).random(n)) * (total / n)
    cumulative = np.cumsum(leaves)
    expected = np.searchsorted(cumulative, targets, side="right")
    differ = sampled != expected
    if differ.any():
        start = cumulative[sampled[differ]] - leaves[sampled[differ]]
        end = cumulative[sampled[differ]]
        near_edge = np.minimum(abs(targets[differ] - start), abs(targets[differ] - end))
        assert (near_edge <= 1e-9 * total).all()


def test_sampling_frequencies_are_proportional():
    rng = np.random.default_rng(0)
    priorities = np.array([0.0, 1.0, 2.0, 0.0, 7.0, 0.5, 0.5, 9.0])
    tree = SumTree(len(priorities))
    tree.update(np.arange(len(priorities)), priorities)
    counts = np.bincount(
        np.concatenate([tree.sample(64, rng) for _ in range(2000)]), minlength=len(priorities)
    )
    expected = priorities / priorities.sum() * counts.sum()
    np.testing.assert_allclose(counts, expected, rtol=0.03, atol=1)
    assert counts[0] == counts[3] == 0


def test_stratified_draws_cover_each_stratum():
    tree = SumTree(1000)
    tree.update(np.arange(1000), np.ones(1000))
    sampled = tree.sample(10, np.random.default_rng(1))
    np.testing.assert_array_equal(sampled // 100, np.arange(10))


def test_errors():
    tree = SumTree(4)
    with pytest.raises(ValueError, match="total priority is 0"):
        tree.sample(1, np.random.default_rng(0))
    with pytest.raises(IndexError):
        tree.update(np.array([4]), np.array([1.0]))


def test_state_round_trip_rebuilds_inner_levels():
    tree = SumTree(5000)
    rng = np.random.default_rng(0)
    tree.update(rng.integers(0, 5000, 3000), rng.random(3000))
    copy = SumTree(5000)
    copy.set_state(tree.get_state())
    assert copy.total() == tree.total()
    np.testing.assert_array_equal(
        copy.sample(100, np.random.default_rng(3)), tree.sample(100, np.random.default_rng(3))
    )
