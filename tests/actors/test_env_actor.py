"""RemoteShardSink: numbered adds, a backlog while the shard is down, each add applied once."""

import time

import numpy as np
import pytest

from actors.env_actor import RemoteShardSink, merged
from marl_alloc.floor import columns as C
from replay import make_shard_actors
from tests.replay.batches import make_batch, with_priority_inputs


def _batches(first: int, n: int, team: bool = True) -> dict:
    batches = {"leaf": with_priority_inputs(make_batch(first, n))}
    if team:
        batches["team"] = with_priority_inputs(make_batch(first, 2))
    return batches


def test_merged_concatenates_each_modules_rows_in_order():
    out = merged([_batches(0, 3), _batches(3, 4, team=False), _batches(7, 2)])
    np.testing.assert_array_equal(out["leaf"][C.REWARDS], np.arange(9))
    np.testing.assert_array_equal(out["team"][C.REWARDS], [0, 1, 7, 8])


@pytest.mark.ray
def test_a_backlog_carries_the_actor_through_a_shard_restart_and_nothing_applies_twice(
    ray_session, tmp_path
):
    ray = ray_session
    config = {"capacity": 1000, "snapshot_dir": str(tmp_path), "durable": True, "num_cpus": 0.1}
    (shard,) = make_shard_actors(config, num_shards=1)
    sink = RemoteShardSink(shard, "actor-0", max_backlog=8)
    sink(_batches(0, 50))
    assert sink.flush().total == 52
    sink(_batches(50, 10))  # in flight when the shard dies: Ray retries it on the restart
    ray.kill(shard, no_restart=False)
    start = time.monotonic()
    for first in range(60, 100, 10):
        sink(_batches(first, 10))  # held back while the shard restores: no wait
    assert time.monotonic() - start < 1.0
    position = sink.flush()
    assert position.total == 52 + 5 * 12
    assert ray.get(shard.size.remote()) == {"leaf": 100, "team": 12}
    assert ray.get(shard.writers.remote()) == {"actor-0": [position.seq, 112, 112]}
    ray.kill(shard)
