"""Samples-per-insert rate limiting: who may go, and no deadlock with concurrent callers."""

import threading
import time

import numpy as np

from replay import PrioritizedShard, RateLimiter
from tests.replay.batches import make_batch, with_priority_inputs


def test_limiter_predicates():
    off = RateLimiter(None, 0.5, 100)
    assert not off.enabled and off.can_insert(True) and off.can_sample()
    limiter = RateLimiter(samples_per_insert=4.0, tolerance=0.5, min_size_to_sample=10)
    assert limiter.error_buffer == 20.0
    limiter.record_insert(100, ready=False)  # warm-up inserts are not owed samples
    assert limiter.inserted == 0 and limiter.can_insert(ready=True)
    limiter.record_insert(10, ready=True)  # 40 samples owed > 20 slack: inserts wait
    assert not limiter.can_insert(ready=True) and limiter.can_sample()
    assert limiter.can_insert(ready=False)  # never block before the learner can sample
    limiter.record_sample(65)  # 25 ahead > 20 slack: samples wait, inserts go
    assert limiter.can_insert(ready=True) and not limiter.can_sample()


def test_plain_shard_returns_none_instead_of_waiting():
    shard = PrioritizedShard(
        {
            "capacity": 100,
            "min_size_to_sample": 4,
            "samples_per_insert": 1.0,
            "samples_per_insert_tolerance": 0.0,
        }
    )
    shard.add({"leaf": with_priority_inputs(make_batch(0, 4))})
    shard.add({"leaf": with_priority_inputs(make_batch(4, 4))})  # 4 owed
    assert shard.sample(4) is not None
    assert shard.sample(4) is not None  # diff -4: one more call may still go (checked before)
    assert shard.sample(4) is None
    shard.add({"leaf": with_priority_inputs(make_batch(8, 8))})  # an insert is never refused
    assert shard.sample(4) is not None


def test_adders_and_sampler_with_a_tight_ratio_both_finish():
    spi = 2.0
    shard = PrioritizedShard(
        {
            "capacity": 10_000,
            "min_size_to_sample": 20,
            "samples_per_insert": spi,
            "samples_per_insert_tolerance": 0.0,  # error buffer of one sample
            "rate_limit_timeout_s": 1.0,
            "chunk_size": 4,
            "zstd_dict_bytes": 0,
        },
        blocking=True,
    )
    adds_per_thread, rows = 40, 16

    def adder(offset):
        for i in range(adds_per_thread):
            first = offset + i * rows
            shard.add({"leaf": with_priority_inputs(make_batch(first, rows))})

    adders = [threading.Thread(target=adder, args=(k * 10_000,)) for k in range(2)]
    start = time.monotonic()
    for t in adders:
        t.start()

    def sampler():
        while any(t.is_alive() for t in adders):
            if shard.sample(8) is None:
                time.sleep(0.001)  # warming up: the learner polls again later

    sampling = threading.Thread(target=sampler)
    sampling.start()
    for t in adders:
        t.join(timeout=30)
    sampling.join(timeout=30)
    assert not any(t.is_alive() for t in [*adders, sampling]), "deadlocked"
    stats = shard.stats()
    assert stats["added"] == 2 * adds_per_thread * rows
    assert stats["insert_timeouts"] == 0, "an add waited for the learner until the timeout"
    assert stats["insert_wait_s"] > 0 or stats["sample_wait_s"] > 0
    # The learner kept to the ratio, within one call of each side.
    limiter = shard.limiter
    assert abs(spi * limiter.inserted - limiter.sampled) <= spi * rows + 8 + limiter.error_buffer
    assert time.monotonic() - start < 20
    assert np.isfinite(stats["beta"])
