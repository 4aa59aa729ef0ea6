"""PrioritizedBuffer: ring wrap-around, stale-index protection, IS weights, compression."""

import numpy as np
import pytest

from marl_alloc.floor import columns as C
from replay import PrioritizedBuffer, ReplayError, priority
from tests.replay.batches import expected_rows, make_batch

STORED = set(make_batch(0, 1))


def _buffer(capacity, **kwargs):
    kwargs.setdefault("chunk_size", 4)
    kwargs.setdefault("zstd_dict_bytes", 0)
    return PrioritizedBuffer(capacity, **kwargs)


def _add(buffer, first, n, td=None):
    td = np.ones(n) if td is None else td
    buffer.add(make_batch(first, n), td, np.zeros(n))


def _assert_rows_match_ids(sampled):
    ids = sampled[C.REWARDS].astype(np.int64)
    expected = expected_rows(ids)
    for name in STORED:
        np.testing.assert_array_equal(sampled[name], expected[name], err_msg=name)
    np.testing.assert_array_equal(ids, sampled[C.GENERATIONS])


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("capacity", [10, 37])
def test_wrap_around_keeps_the_newest_rows(compress, capacity):
    buffer = _buffer(capacity, compress=compress, cache_chunks=2)
    rng = np.random.default_rng(0)
    added = 0
    for n in [3, 7, 1, 13, 2 * capacity + 5, 4, 9, capacity]:
        _add(buffer, added, n)
        added += n
        assert len(buffer) == min(added, capacity)
        sampled = buffer.sample(64, 0.4, rng)
        _assert_rows_match_ids(sampled)
        ids = sampled[C.REWARDS]
        assert ids.min() >= added - capacity and ids.max() < added
    # Uniform priorities: every held row comes up.
    seen = np.unique(buffer.sample(50 * capacity, 0.4, rng)[C.REWARDS])
    np.testing.assert_array_equal(seen, np.arange(added - capacity, added))


def test_update_skips_overwritten_slots_and_last_duplicate_wins():
    buffer = _buffer(8)
    _add(buffer, 0, 8)
    sampled = buffer.sample(8, 0.4, np.random.default_rng(0))
    _add(buffer, 8, 3, td=np.full(3, 5.0))  # overwrites slots 0..2
    indices, generations = sampled[C.INDICES], sampled[C.GENERATIONS]
    applied = buffer.update_priorities(indices, generations, np.full(8, 2.0), np.zeros(8))
    fresh = ~np.isin(indices, [0, 1, 2])
    assert applied == fresh.sum()
    p = buffer.sum_tree.get(np.arange(8))
    np.testing.assert_allclose(p[:3], priority(np.full(3, 5.0), np.zeros(3), 0.6, 0.5, 1e-6))
    np.testing.assert_allclose(
        p[indices[fresh]], priority(np.array([2.0]), np.zeros(1), 0.6, 0.5, 1e-6)[0]
    )
    # Duplicates in one update: the last one counts.
    applied = buffer.update_priorities(
        np.array([5, 5, 5]), buffer.generations[[5, 5, 5]], np.array([1.0, 2.0, 9.0]), np.zeros(3)
    )
    assert applied == 3
    assert buffer.sum_tree.get([5])[0] == pytest.approx((9.0 + 1e-6) ** 0.6)
    # Out-of-range indices are stale, not errors.
    assert (
        buffer.update_priorities(np.array([-1, 99]), np.array([0, 0]), np.ones(2), np.ones(2)) == 0
    )


def test_priority_formula_and_is_weights():
    alpha, eta, eps, beta = 0.7, 0.5, 1e-3, 0.4
    buffer = _buffer(16, alpha=alpha, eta=eta, eps=eps)
    td = np.linspace(0.0, 3.0, 10)
    attention = np.linspace(1.0, 0.0, 10)
    buffer.add(make_batch(0, 10), td, attention)
    p = (np.abs(td) + eta * attention + eps) ** alpha
    np.testing.assert_allclose(buffer.sum_tree.get(np.arange(10)), p)
    sampled = buffer.sample(64, beta, np.random.default_rng(1))
    probabilities = p / p.sum()
    weights = (10 * probabilities) ** -beta
    expected = weights[sampled[C.INDICES]] / weights.max()
    assert sampled[C.WEIGHTS].dtype == np.float32
    np.testing.assert_allclose(sampled[C.WEIGHTS], expected, rtol=1e-6)


def test_compressed_and_raw_buffers_sample_identical_bytes():
    obs_dim = 24
    batches = [make_batch(i * 50, 50, obs_dim=obs_dim) for i in range(12)]
    rng_data = np.random.default_rng(3)
    for b in batches[::2]:  # awkward floats: noise (these chunks stay raw), -0, nan, inf
        b[C.OBS] += rng_data.standard_normal(b[C.OBS].shape).astype(np.float32)
        b[C.NEXT_OBS] += rng_data.standard_normal(b[C.OBS].shape).astype(np.float32)
        b[C.OBS][::7, 0] = [-0.0, np.nan, np.inf, -np.inf, 1e-45, 3e38, 0.0, -0.0][
            : len(b[C.OBS][::7])
        ]
    raw = _buffer(256, compress=False)
    packed = _buffer(
        256, compress=True, zstd_dict_bytes=1024, zstd_dict_train_chunks=8, cache_chunks=5
    )
    for b in batches:
        td = np.abs(b[C.REWARDS]) % 7
        raw.add(b, td, np.zeros(len(td)))
        packed.add(b, td, np.zeros(len(td)))
    chunked = packed._chunked
    assert chunked.codec.dictionary is not None
    assert chunked.is_raw.any() and chunked.frame_lengths.any(), "both chunk kinds are read"
    for seed in range(4):  # repeated seeds: the second pass reads from the decoded-chunk cache
        a = raw.sample(128, 0.5, np.random.default_rng(seed % 2))
        b = packed.sample(128, 0.5, np.random.default_rng(seed % 2))
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
            assert a[name].tobytes() == b[name].tobytes(), name


def test_stats_report_bytes_and_compression_ratio():
    buffer = _buffer(4096, compress=True, chunk_size=16, zstd_dict_bytes=0)
    zeros = make_batch(0, 2000, obs_dim=64)
    zeros[C.OBS][:] = 0
    zeros[C.NEXT_OBS][:] = 0
    buffer.add(zeros, np.ones(2000), np.zeros(2000))
    stats = buffer.stats()
    raw_row = 2 * 64 * 4 + 2 * 3 + 8 + 4 + 4 + 8
    assert stats["raw_bytes_per_transition"] == raw_row
    assert stats["bytes_per_transition"] < raw_row / 3
    assert stats["compression_ratio"] == pytest.approx(raw_row / stats["bytes_per_transition"])
    assert stats["obs_compression_ratio"] > 20


@pytest.mark.parametrize("compress", [False, True])
def test_state_round_trip_continues_identically(compress):
    a = _buffer(40, compress=compress, zstd_dict_bytes=512, zstd_dict_train_chunks=3)
    for i in range(7):
        _add(a, i * 9, 9, td=np.arange(9) + i)
    b = _buffer(40, compress=compress, zstd_dict_bytes=512, zstd_dict_train_chunks=3)
    b.set_state(a.get_state())
    for buf in (a, b):
        _add(buf, 63, 5)
    for name, column in a.sample(30, 0.4, np.random.default_rng(0)).items():
        np.testing.assert_array_equal(column, b.sample(30, 0.4, np.random.default_rng(0))[name])


def test_bad_batches_are_one_line_errors():
    buffer = _buffer(10)
    _add(buffer, 0, 2)
    wrong_shape = make_batch(0, 2, obs_dim=5)
    with pytest.raises(ReplayError, match="shape") as err:
        buffer.add(wrong_shape, np.ones(2), np.zeros(2))
    assert "\n" not in str(err.value)
    missing = make_batch(0, 2)
    del missing[C.REWARDS]
    with pytest.raises(ReplayError, match="missing"):
        buffer.add(missing, np.ones(2), np.zeros(2))
    with pytest.raises(ReplayError, match="NaN"):
        buffer.add(make_batch(0, 2), np.array([1.0, np.nan]), np.zeros(2))
    with pytest.raises(ReplayError, match="length"):
        buffer.add(make_batch(0, 2), np.ones(3), np.zeros(3))
    with pytest.raises(ReplayError, match="empty"):
        _buffer(4).sample(1, 0.4, np.random.default_rng(0))
