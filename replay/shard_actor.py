"""ReplayShard: the Ray actor shell around PrioritizedShard, and how actors pick their shard."""

import dataclasses
import os
import time
from collections.abc import Mapping
from typing import Any

import ray

from marl_alloc.floor import pipeline_metrics
from marl_alloc.floor.settings.replay import ReplayConfig
from replay.shard import ModuleBatches, PrioritizedShard
from replay.writer_ledger import AddSource


class BlockingShard(PrioritizedShard):
    """A PrioritizedShard whose rate limit waits, with adds and samples on their own threads.

    Each Ray concurrency group has its own threads, so adds waiting for the learner never take
    the thread a sample needs (nor the reverse), however many env actors are waiting. A
    restarted one answers as soon as its process is up: it acknowledges adds (logged) while it
    reloads its snapshot and log, and samples once it has.
    """

    def __init__(self, config: Mapping[str, Any], shard_index: int = 0):
        started = time.time()
        super().__init__(config, shard_index, blocking=True, restore_in_background=True)
        # Wall times (time.time()) of this process's life so far: where a restart's seconds went
        # (`restored_at` in stats: when its snapshot and log were back).
        self.lifecycle = {
            "process_started_at": process_started_at(),
            "init_started_at": started,
            "ready_at": time.time(),
        }

    def stats(self) -> dict[str, Any]:
        """PrioritizedShard.stats (once restored) plus this process's lifecycle wall times."""
        return {**super().stats(), **self.lifecycle}

    @ray.method(concurrency_group="insert")
    def add(self, batches: ModuleBatches, source: AddSource | None = None) -> int:
        """PrioritizedShard.add, on the insert thread."""
        added = super().add(batches, source)
        pipeline_metrics.record_shard_add(self.shard_index, added, sum(self.size().values()))
        return added

    @ray.method(concurrency_group="sample")
    def sample(self, batch_size: int) -> ModuleBatches | None:
        """PrioritizedShard.sample, on the sample thread."""
        sampled = super().sample(batch_size)
        if sampled:
            pipeline_metrics.record_shard_sample(self.shard_index, batch_size * len(sampled))
        return sampled


ReplayShard = ray.remote(concurrency_groups={"insert": 1, "sample": 1})(BlockingShard)


def make_shard_actors(
    config: ReplayConfig | Mapping[str, Any],
    num_shards: int,
    *,
    max_restarts: int = -1,
    name_prefix: str | None = None,
) -> list[ray.actor.ActorHandle]:
    """Start `num_shards` ReplayShard actors, spread over nodes (Ray's SPREAD strategy) with
    `memory_mb` reserved each; a restarted one resumes from its latest snapshot (and durable
    log) when `snapshot_dir` is set. With `name_prefix` they are named actors
    (`shard_name(prefix, i)`), which other restartable actors can look up by name."""
    settings = dataclasses.replace(ReplayConfig.from_mapping(config), num_shards=num_shards)
    memory = None if settings.memory_mb is None else int(settings.memory_mb * 2**20)
    return [
        ReplayShard.options(
            num_cpus=settings.num_cpus,
            memory=memory,
            max_restarts=max_restarts,
            # Calls in flight when a shard dies run again on its restart (adds at least once).
            max_task_retries=-1 if max_restarts != 0 else 0,
            max_concurrency=settings.max_concurrency,  # the other calls: updates, stats, ...
            scheduling_strategy="SPREAD",
            name=None if name_prefix is None else shard_name(name_prefix, i),
        ).remote(settings, i)
        for i in range(num_shards)
    ]


def process_started_at() -> float | None:
    """When this process started (time.time() scale), from /proc; None where there is none."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as stat:
            # Fields after the command name (which may hold spaces); starttime is the 20th.
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            # Seconds since boot at 10 ms resolution (/proc/stat's boot time is whole seconds).
            age = float(uptime.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - age


def shard_for_actor(actor_id: int, num_shards: int) -> int:
    """The shard an env actor writes to: actors are dealt round robin."""
    return actor_id % num_shards


def shard_name(name_prefix: str, shard_index: int) -> str:
    """The Ray actor name of a named shard."""
    return f"{name_prefix}-replay-{shard_index:03d}"


def resolve_shard(shard: "str | ray.actor.ActorHandle") -> ray.actor.ActorHandle:
    """A shard handle from a handle or a named shard's name.

    Actors that Ray may restart take shard names: a handle among constructor arguments has to
    stay referenced for the restart to work, a name is found again in `__init__`.
    """
    return ray.get_actor(shard) if isinstance(shard, str) else shard
