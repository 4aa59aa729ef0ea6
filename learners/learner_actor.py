"""LearnerActor: the Ray actor shell around LearnerWorker (on a GPU when one is asked for)."""

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray

from learners.learner_worker import LearnerWorker
from marl_alloc.floor import pipeline_metrics
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
        self.worker = LearnerWorker(algo_config, [resolve_shard(s) for s in shards])
        latest = learner_checkpoint(checkpoint_dir)
        if latest is not None:
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

    def get_state(self) -> dict:
        return self.worker.get_state()

    def set_state(self, learner_state: dict) -> None:
        self.worker.learner.set_state(learner_state)
