"""Ape-X prioritized replay: sum-tree sampler, compressed ring storage, sharded Ray service.

shard = PrioritizedShard(settings.replay, shard_index)     # plain class, tested without Ray
shards = make_shard_actors(settings.replay, num_shards)    # the same as Ray actors

`settings.replay` is the floor's ReplayConfig; a plain mapping of its keys works too.
"""

from marl_alloc.floor.settings.replay import ReplayConfig
from replay.codec import ZstdCodec
from replay.errors import ReplayError, SnapshotError
from replay.prioritized_buffer import PrioritizedBuffer, priority
from replay.rate_limiter import RateLimiter
from replay.shard import PrioritizedShard
from replay.shard_actor import (
    ReplayShard,
    make_shard_actors,
    resolve_shard,
    shard_for_actor,
    shard_name,
)
from replay.snapshot import read_snapshot, write_snapshot
from replay.sum_tree import MinTree, SumTree

__all__ = [
    "MinTree",
    "PrioritizedBuffer",
    "PrioritizedShard",
    "RateLimiter",
    "ReplayConfig",
    "ReplayError",
    "ReplayShard",
    "SnapshotError",
    "SumTree",
    "ZstdCodec",
    "make_shard_actors",
    "priority",
    "read_snapshot",
    "resolve_shard",
    "shard_for_actor",
    "shard_name",
    "write_snapshot",
]
