"""The datacenter simulator: vectorized env, its RLlib multi-agent view, workloads, baselines.

Public API:
    VectorDatacenterEnv, LevelObs, StepResult, LEVELS   -- B lockstep datacenters (numpy)
    EnvConfig                                            -- settings from conf/env/*.yaml
    HEURISTICS                                           -- baseline policies by name
    DatacenterMultiAgentEnv, register_envs, ENV_NAME     -- RLlib MultiAgentEnv view
    EnvConfigError, WorkloadError, InvalidActionError    -- one-line user errors
"""

from envs.config import EnvConfig
from envs.errors import EnvConfigError, InvalidActionError, WorkloadError
from envs.heuristics import HEURISTICS
from envs.multi_agent import ENV_NAME, DatacenterMultiAgentEnv, register_envs
from envs.vector_env import LEVELS, LevelObs, StepResult, VectorDatacenterEnv

__all__ = [
    "ENV_NAME",
    "DatacenterMultiAgentEnv",
    "LEVELS",
    "HEURISTICS",
    "EnvConfig",
    "EnvConfigError",
    "InvalidActionError",
    "LevelObs",
    "StepResult",
    "VectorDatacenterEnv",
    "WorkloadError",
    "register_envs",
]
