"""The Ape-X orchestration: RLlib Algorithm + config, and where its pieces run."""

from marl_alloc.apex.algorithm import ApexAlgorithm, ApexConfig

__all__ = ["ApexAlgorithm", "ApexConfig"]
