"""ZstdCodec and ChunkStorage: exact round trips through zstd frames, raw chunks and the cache."""

import numpy as np
import pytest

from replay.chunk_storage import ChunkStorage
from replay.codec import ZstdCodec


def _structured(rng, k, nbytes):
    return np.repeat(rng.integers(0, 4, (k, nbytes // 8), dtype=np.uint8), 8, axis=1)


def test_encode_decode_round_trip_with_and_without_dictionary():
    rng = np.random.default_rng(0)
    chunks = _structured(rng, 300, 512)
    codec = ZstdCodec(level=3, dict_bytes=2048)
    frames = codec.encode(chunks)
    assert all(f is not None and len(f) < 512 for f in frames)
    np.testing.assert_array_equal(codec.decode(frames, 512), chunks)
    assert codec.wants_dictionary and codec.train_dictionary(chunks)
    with_dictionary = codec.encode(chunks)
    assert sum(map(len, with_dictionary)) < sum(map(len, frames))
    np.testing.assert_array_equal(codec.decode(with_dictionary, 512), chunks)
    restored = ZstdCodec()
    restored.set_state(codec.get_state())
    np.testing.assert_array_equal(restored.decode(with_dictionary, 512), chunks)
    assert codec.decode([], 512).shape == (0, 512)


def test_incompressible_chunks_stay_raw():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (5, 512), dtype=np.uint8)
    assert ZstdCodec(min_saving=0.1).encode(noise) == [None] * 5
    mixed = np.concatenate([_structured(rng, 2, 512), noise[:2]])
    frames = ZstdCodec(min_saving=0.1).encode(mixed)
    assert frames[0] is not None and frames[1] is not None and frames[2:] == [None, None]


def test_failed_dictionary_training_falls_back_to_plain_zstd(caplog):
    codec = ZstdCodec(dict_bytes=100_000)
    assert not codec.train_dictionary(np.zeros((2, 16), np.uint8))
    assert not codec.wants_dictionary and "training failed" in caplog.text


@pytest.mark.parametrize("capacity,chunk_size", [(23, 4), (64, 8), (10, 16)])
def test_chunk_storage_reads_back_every_row_across_wraps(capacity, chunk_size):
    rng = np.random.default_rng(2)
    spec = {"a": ((3,), "<f4"), "b": ((), "<i8")}
    storage = ChunkStorage(
        capacity, spec, ZstdCodec(dict_bytes=512), chunk_size, cache_chunks=2, dict_train_chunks=3
    )
    truth = {"a": np.zeros((capacity, 3), np.float32), "b": np.zeros(capacity, np.int64)}
    cursor = written = 0
    for n in [1, 5, chunk_size, 2 * chunk_size + 3, capacity, 7, 3 * capacity // 2]:
        n = min(n, capacity)
        noisy = rng.random() < 0.5  # some batches compress, some stay raw
        a = rng.random((n, 3)).astype(np.float32) if noisy else np.full((n, 3), n, np.float32)
        batch = {"a": a, "b": rng.integers(0, 10**12, n) if noisy else np.arange(n)}
        storage.write(cursor, batch)
        slots = (cursor + np.arange(n)) % capacity
        truth["a"][slots], truth["b"][slots] = batch["a"], batch["b"]
        cursor, written = (cursor + n) % capacity, min(written + n, capacity)
        for _ in range(2):  # second read partly from the cache
            slots = rng.integers(0, written, 40)
            got = storage.read(slots)
            np.testing.assert_array_equal(got["a"], truth["a"][slots])
            np.testing.assert_array_equal(got["b"], truth["b"][slots])
    copy = ChunkStorage(capacity, spec, ZstdCodec(), chunk_size)
    copy.set_state(storage.get_state())
    everything = np.arange(capacity)
    np.testing.assert_array_equal(copy.read(everything)["a"], truth["a"])
    assert copy.stored_bytes() == storage.stored_bytes()
