"""Ape-X prioritized replay: sum-tree sampler, compressed ring storage, sharded Ray service."""

from replay.errors import ReplayError, SnapshotError
from replay.sum_tree import MinTree, SumTree

__all__ = ["MinTree", "ReplayError", "SnapshotError", "SumTree"]
