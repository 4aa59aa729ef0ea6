"""LearnerActor: the Ray actor shell around LearnerWorker (on a GPU when one is asked for)."""

from collections.abc import Sequence
from typing import Any

import ray

from learners.learner_worker import LearnerWorker


@ray.remote
class LearnerActor:
    """Thin shell: trains from the shards it is given and serves weights and state."""

    def __init__(self, algo_config, shards: Sequence[Any], learner_state: dict | None = None):
        self.worker = LearnerWorker(algo_config, shards, learner_state)

    def train_round(self, num_updates: int) -> dict:
        return self.worker.train_round(num_updates)

    def get_weights(self) -> tuple[dict, int]:
        return self.worker.get_weights()

    def get_state(self) -> dict:
        return self.worker.get_state()
