"""EnvActor: the Ray actor shell around EnvWorker; pushes to its replay shard, not the driver."""

from collections.abc import Mapping

import ray
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from actors.env_worker import EnvWorker
from marl_alloc.floor import pipeline_metrics
from replay import resolve_shard


class RemoteShardSink:
    """Sends batches to a shard actor, keeping one add in flight so actors feel backpressure."""

    def __init__(self, shard):
        self.shard = shard
        self.in_flight = None

    def __call__(self, batches: Mapping) -> None:
        self.flush()
        self.in_flight = self.shard.add.remote(batches) if batches else None

    def flush(self) -> None:
        """Wait until the shard has acknowledged the last add."""
        if self.in_flight is not None:
            ray.get(self.in_flight)
            self.in_flight = None


@ray.remote
class EnvActor:
    """Thin shell: constructs an EnvWorker that writes to `shard` (a handle or a named shard's
    name, which survives this actor's restarts); reports its metrics."""

    def __init__(
        self,
        shard,
        env_config: Mapping,
        module_spec: MultiRLModuleSpec,
        actor_index: int = 0,
        **kwargs,
    ):
        self.actor_index = actor_index
        self.sink = RemoteShardSink(resolve_shard(shard))
        self.worker = EnvWorker(env_config, module_spec, self.sink, **kwargs)

    def collect(self, num_cycles: int) -> dict:
        stats = self.worker.collect(num_cycles)
        pipeline_metrics.record_actor(self.actor_index, stats)
        return stats

    def set_weights(self, weights_and_version: tuple) -> None:
        self.worker.set_weights(weights_and_version)

    def flush(self) -> None:
        """Return once every transition this actor reported is acknowledged by its shard."""
        self.sink.flush()
