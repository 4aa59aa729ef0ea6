"""The ReplayShard Ray actor: a thin shell that serves calls concurrently and resumes on restart."""

import time

import pytest

from marl_alloc import columns as C
from replay import make_shard_actors, shard_for_actor
from tests.replay.batches import make_batch, with_priority_inputs


def test_shard_for_actor_deals_round_robin():
    assert [shard_for_actor(i, 3) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.ray
def test_actor_adds_samples_and_resumes_after_a_crash(ray_session, tmp_path):
    ray = ray_session
    config = {
        "capacity": 1000,
        "min_size_to_sample": 10,
        "snapshot_dir": str(tmp_path),
        "durable": True,
        "num_cpus": 0.1,
        "samples_per_insert": 100.0,  # generous: only exercises the waiting path
    }
    (shard,) = make_shard_actors(config, num_shards=1)
    added = ray.get(shard.add.remote({"leaf": with_priority_inputs(make_batch(0, 50))}))
    assert added == 50
    sampled = ray.get(shard.sample.remote(8))
    update = {
        C.INDICES: sampled["leaf"][C.INDICES],
        C.GENERATIONS: sampled["leaf"][C.GENERATIONS],
        C.TD_ABS: sampled["leaf"][C.REWARDS],
        C.ATTENTION: sampled["leaf"][C.REWARDS] * 0,
    }
    assert ray.get(shard.update_priorities.remote({"leaf": update})) == 8
    ray.kill(shard, no_restart=False)  # Ray restarts it; __init__ restores snapshot + log
    deadline = time.monotonic() + 60
    while True:
        try:
            assert ray.get(shard.size.remote()) == {"leaf": 50}
            break
        except ray.exceptions.RayActorError:
            assert time.monotonic() < deadline, "shard did not come back"
            time.sleep(0.2)
    ray.kill(shard)
