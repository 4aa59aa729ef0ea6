"""The Ape-X orchestration: RLlib Algorithm + config, the one builder that reads the settings,
and where the pipeline's pieces run (one process or Ray actors).

The metrics those pieces record are defined on the floor (marl_alloc.floor.pipeline_metrics).
"""

from marl_alloc.apex.algorithm import ApexAlgorithm, ApexConfig

__all__ = ["ApexAlgorithm", "ApexConfig"]
