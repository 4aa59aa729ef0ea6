"""EnvActor: the Ray actor shell around EnvWorker; pushes to its replay shard, not the driver."""

from collections.abc import Mapping

import ray
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from actors.env_worker import EnvWorker


class RemoteShardSink:
    """Sends batches to a shard actor, keeping one add in flight so actors feel backpressure."""

    def __init__(self, shard):
        self.shard = shard
        self.in_flight = None

    def __call__(self, batches: Mapping) -> None:
        if self.in_flight is not None:
            ray.get(self.in_flight)
        self.in_flight = self.shard.add.remote(batches) if batches else None


@ray.remote
class EnvActor:
    """Thin shell: constructs an EnvWorker that writes to `shard`."""

    def __init__(self, shard, env_config: Mapping, module_spec: MultiRLModuleSpec, **kwargs):
        self.worker = EnvWorker(env_config, module_spec, RemoteShardSink(shard), **kwargs)

    def collect(self, num_cycles: int) -> dict:
        return self.worker.collect(num_cycles)

    def set_weights(self, weights_and_version: tuple) -> None:
        self.worker.set_weights(weights_and_version)
