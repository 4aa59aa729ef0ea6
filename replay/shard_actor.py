"""ReplayShard: the Ray actor shell around PrioritizedShard, and how actors pick their shard."""

import dataclasses
from collections.abc import Mapping
from typing import Any

import ray

from replay.config import ReplayConfig
from replay.shard import ModuleBatches, PrioritizedShard


class BlockingShard(PrioritizedShard):
    """A PrioritizedShard whose rate limit waits, with adds and samples on their own threads.

    Each Ray concurrency group has its own threads, so adds waiting for the learner never take
    the thread a sample needs (nor the reverse), however many env actors are waiting.
    """

    def __init__(self, config: Mapping[str, Any], shard_index: int = 0):
        super().__init__(config, shard_index, blocking=True)

    @ray.method(concurrency_group="insert")
    def add(self, batches: ModuleBatches) -> int:
        """PrioritizedShard.add, on the insert thread."""
        return super().add(batches)

    @ray.method(concurrency_group="sample")
    def sample(self, batch_size: int) -> ModuleBatches | None:
        """PrioritizedShard.sample, on the sample thread."""
        return super().sample(batch_size)


ReplayShard = ray.remote(concurrency_groups={"insert": 1, "sample": 1})(BlockingShard)


def make_shard_actors(
    config: Mapping[str, Any], num_shards: int, *, max_restarts: int = -1
) -> list[ray.actor.ActorHandle]:
    """Start `num_shards` ReplayShard actors, spread over nodes; a restarted one resumes from
    its latest snapshot (and durable log) when `snapshot_dir` is set."""
    settings = dataclasses.replace(ReplayConfig.from_mapping(config), num_shards=num_shards)
    plain = dataclasses.asdict(settings)
    return [
        ReplayShard.options(
            num_cpus=settings.num_cpus,
            max_restarts=max_restarts,
            # Calls in flight when a shard dies run again on its restart (adds at least once).
            max_task_retries=-1 if max_restarts != 0 else 0,
            max_concurrency=settings.max_concurrency,  # the other calls: updates, stats, ...
            scheduling_strategy="SPREAD",
        ).remote(plain, i)
        for i in range(num_shards)
    ]


def shard_for_actor(actor_id: int, num_shards: int) -> int:
    """The shard an env actor writes to: actors are dealt round robin."""
    return actor_id % num_shards
