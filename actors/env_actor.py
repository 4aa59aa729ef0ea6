"""EnvActor: the Ray actor shell around EnvWorker; pushes to its replay shard, not the driver.

This module imports nothing heavy: a restarted actor that a spare has already replaced imports
torch, RLlib and the policy (seconds of CPU) in a low-priority thread, so that rebuilding the next
spare does not slow the actors and learner that carry the run.
"""

import os
import sys
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import ray
from ray import cloudpickle

from marl_alloc.floor import columns as C
from marl_alloc.floor import pipeline_metrics
from replay import AddSource, resolve_shard

# Niceness of the thread that rebuilds a restarted actor while a spare does its work: about a
# tenth of a busy core's share (CFS weight 110 against 1024), so the rebuild takes seconds on an
# idle machine and never more than a sliver of a saturated one.
STANDBY_NICENESS = 10


class RemoteShardSink:
    """Sends batches to a shard actor with one add in flight, so actors feel backpressure.

    While the shard has not acknowledged the add in flight (busy, rate-limited, or restarting),
    up to `max_backlog` more batches wait here and go as one add once it has; past that, the
    actor waits. Adds are numbered per writer (this sink: one actor process), so an add Ray
    retries after a shard restart applies once (replay.WriterLedger).
    """

    def __init__(self, shard, writer: str, max_backlog: int = 0):
        self.shard = shard
        self.writer = writer
        self.max_backlog = max_backlog
        self.seq = self.sent = 0
        self.acknowledged = AddSource(writer, 0, 0)
        self.in_flight: tuple[ray.ObjectRef, AddSource] | None = None
        self.backlog: list[Mapping] = []

    def __call__(self, batches: Mapping) -> None:
        if batches:
            self.backlog.append(batches)
        self._advance(wait=False)
        while len(self.backlog) > self.max_backlog:
            self._advance(wait=True)

    def flush(self) -> AddSource:
        """Send what waits and return once the shard has acknowledged all of it: the last add
        acknowledged (its number and the rows sent through it)."""
        while self.in_flight is not None or self.backlog:
            self._advance(wait=True)
        return self.acknowledged

    def _advance(self, wait: bool) -> None:
        """Take the acknowledgement of the add in flight (waiting for it if `wait`), then send
        the backlog as the next add."""
        if self.in_flight is not None:
            ref, source = self.in_flight
            if not wait and not ray.wait([ref], timeout=0)[0]:
                return
            ray.get(ref)
            self.acknowledged, self.in_flight = source, None
        if self.backlog:
            batches = merged(self.backlog)
            self.backlog = []
            self.seq += 1
            self.sent += sum(len(batch[C.TD_ABS]) for batch in batches.values())
            source = AddSource(self.writer, self.seq, self.sent)
            self.in_flight = (self.shard.add.remote(batches, source), source)


def merged(backlog: list[Mapping]) -> dict:
    """Several add calls' batches as one: each module's columns concatenated in order."""
    if len(backlog) == 1:
        return dict(backlog[0])
    modules = dict.fromkeys(m for batches in backlog for m in batches)
    return {
        module: {
            column: np.concatenate([b[module][column] for b in backlog if module in b])
            for column in next(b[module] for b in backlog if module in b)
        }
        for module in modules
    }


def packed_spec(module_spec) -> bytes:
    """The MultiRLModuleSpec as EnvActor takes it: pickled, so that unpickling it (which imports
    RLlib and the policy) happens in EnvActor's build, not before."""
    return cloudpickle.dumps(module_spec)


@ray.remote
class EnvActor:
    """Thin shell: constructs an EnvWorker that writes to `shard` (a handle or a named shard's
    name, which survives this actor's restarts) through a RemoteShardSink holding up to
    `max_backlog` adds; reports its metrics. With `restart_as_spare` (the runtime keeps
    spares), a restart builds at low priority: a spare has taken its place."""

    def __init__(
        self,
        shard,
        env_config: Mapping,
        module_spec: bytes,
        actor_index: int = 0,
        restart_as_spare: bool = False,
        max_backlog: int = 0,
        **kwargs,
    ):
        self.actor_index = actor_index
        # A restarted actor is a new writer: its adds are numbered from 1 again.
        writer = f"env-actor-{actor_index}-{uuid.uuid4().hex[:8]}"
        self.sink = RemoteShardSink(resolve_shard(shard), writer, max_backlog)
        standby = restart_as_spare and ray.get_runtime_context().was_current_actor_reconstructed

        def build():
            if standby and sys.platform == "linux":
                os.nice(STANDBY_NICENESS)  # this thread only: Linux nice values are per thread
            from actors.env_worker import EnvWorker

            spec = cloudpickle.loads(module_spec)
            return EnvWorker(env_config, spec, self.sink, **kwargs)

        with ThreadPoolExecutor(1) as builder:
            self.worker = builder.submit(build).result()

    def collect(self, num_cycles: int) -> dict:
        stats = self.worker.collect(num_cycles)
        pipeline_metrics.record_actor(self.actor_index, stats)
        return stats

    def set_weights(self, weights_and_version: tuple) -> None:
        self.worker.set_weights(weights_and_version)

    def flush(self) -> AddSource:
        """Return once every transition this actor reported is acknowledged by its shard, with
        the position acknowledged (RemoteShardSink.flush)."""
        return self.sink.flush()
