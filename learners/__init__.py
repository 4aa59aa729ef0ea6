"""Learner side of Ape-X: the RLlib TorchLearner and the worker that feeds it from replay."""

from learners.apex_torch_learner import ApexTorchLearner
from learners.learner_worker import LearnerWorker, ShardClient

__all__ = ["ApexTorchLearner", "LearnerWorker", "ShardClient"]
