"""LearnerActor: the Ray actor shell around LearnerWorker (on a GPU when one is asked for)."""

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from ray.rllib.utils.debug import update_global_seed_if_necessary
from ray.tune.utils.file_transfer import sync_dir_between_nodes

from learners.learner_worker import LearnerWorker
from marl_alloc.floor import pipeline_metrics
from marl_alloc.floor.checksums import verify_manifest
from replay import resolve_shard

logger = logging.getLogger(__name__)


def learner_checkpoint(checkpoint_dir: str | Path | None) -> Path | None:
    """The learner's part of an RLlib checkpoint of ours, if one has been written there."""
    if checkpoint_dir is None:
        return None
    path = Path(checkpoint_dir) / "learner_group" / "learner"
    return path if path.is_dir() else None


@ray.remote
class LearnerActor:
    """Thin shell: trains from the shards it is given (handles or named shards' names) and
    serves weights and state.

    It starts from the run's latest checkpoint in `checkpoint_dir` when there is one, so a
    learner Ray restarts resumes from there; the driver sends a first state with `set_state`
    (a large constructor argument would have to outlive the actor for Ray to restart it).
    """

    def __init__(self, algo_config, shards: Sequence[Any], checkpoint_dir: str | None = None):
        # The initial weights follow the run's seed, as the driver's would.
        update_global_seed_if_necessary(algo_config.framework_str, algo_config.seed)
        self.worker = LearnerWorker(algo_config, [resolve_shard(s) for s in shards])
        latest = learner_checkpoint(checkpoint_dir)
        if latest is not None:
            verify_manifest(Path(checkpoint_dir))
            self.worker.learner.restore_from_path(str(latest))
        elif ray.get_runtime_context().was_current_actor_reconstructed:
            logger.warning(
                "learner restarted before any checkpoint: training goes on from initial weights"
                " (training.checkpoint_every_s sets how much a restart can lose)"
            )

    def train_round(self, num_updates: int) -> dict:
        start = time.monotonic()
        stats = self.worker.train_round(num_updates)
        stats["weights_version"] = self.worker.weights_version
        pipeline_metrics.record_learner(stats, time.monotonic() - start)
        return stats

    def get_weights(self) -> tuple[dict, int]:
        return self.worker.get_weights()

    def set_state(self, learner_state: dict) -> None:
        self.worker.learner.set_state(learner_state)

    def save_to_path(self, path: str, node_ip: str) -> None:
        """Write the learner's checkpoint (RLlib's Checkpointable format) to `path` on the node
        `node_ip` (the driver's): directly when it is this node, else sent over by Ray."""
        here = ray.util.get_node_ip_address()
        if here == node_ip:
            self.worker.learner.save_to_path(path)
            return
        with tempfile.TemporaryDirectory() as local:
            self.worker.learner.save_to_path(local)
            sync_dir_between_nodes(here, local, node_ip, path)

    def restore_from_path(self, path: str, node_ip: str) -> None:
        """Load the learner's checkpoint from `path` on the node `node_ip`."""
        here = ray.util.get_node_ip_address()
        if here == node_ip:
            self.worker.learner.restore_from_path(path)
            return
        with tempfile.TemporaryDirectory() as local:
            sync_dir_between_nodes(node_ip, path, here, local)
            self.worker.learner.restore_from_path(local)
