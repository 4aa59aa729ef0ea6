"""The ReplayShard Ray actor: a thin shell that serves calls concurrently and resumes on restart."""

import os
import time

import pytest

from marl_alloc.floor import columns as C
from replay import make_shard_actors, shard_for_actor
from tests.replay.batches import make_batch, with_priority_inputs


def test_shard_for_actor_deals_round_robin():
    assert [shard_for_actor(i, 3) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def _leaf(first, n):
    return {"leaf": with_priority_inputs(make_batch(first, n))}


@pytest.mark.ray
def test_actor_rate_limits_without_blocking_samples_and_resumes_after_a_crash(
    ray_session, tmp_path
):
    ray = ray_session
    config = {
        "capacity": 1000,
        "min_size_to_sample": 10,
        "snapshot_dir": str(tmp_path),
        "durable": True,
        "num_cpus": 0.1,
        "memory_mb": 64,  # reserved through Ray's `memory` resource
        "samples_per_insert": 1.0,
        "samples_per_insert_tolerance": 0.0,
        "rate_limit_timeout_s": 30.0,
    }
    (shard,) = make_shard_actors(config, num_shards=1)
    assert ray.get(shard.add.remote(_leaf(0, 50))) == 50  # warm-up: owes no samples
    assert ray.get(shard.add.remote(_leaf(50, 50))) == 50  # the learner now owes 50 samples
    waiting_add = shard.add.remote(_leaf(100, 10))
    ready, _ = ray.wait([waiting_add], timeout=0.5)
    assert not ready, "the add should wait for the learner"
    for _ in range(7):  # samples run on their own thread while the add waits
        sampled = ray.get(shard.sample.remote(8), timeout=10)
    assert ray.get(waiting_add, timeout=10) == 10
    update = {
        C.INDICES: sampled["leaf"][C.INDICES],
        C.GENERATIONS: sampled["leaf"][C.GENERATIONS],
        C.TD_ABS: sampled["leaf"][C.REWARDS],
        C.ATTENTION: sampled["leaf"][C.REWARDS] * 0,
    }
    assert ray.get(shard.update_priorities.remote({"leaf": update})) == 8
    before = ray.get(shard.__ray_call__.remote(_process_id))
    ray.kill(shard, no_restart=False)  # Ray restarts it; __init__ restores snapshot + log
    deadline = time.monotonic() + 60
    while ray.get(shard.__ray_call__.remote(_process_id)) == before:  # retried until it is back
        assert time.monotonic() < deadline, "shard did not restart"
        time.sleep(0.1)
    assert ray.get(shard.size.remote()) == {"leaf": 110}
    ray.kill(shard)


def _process_id(_actor) -> int:
    return os.getpid()
