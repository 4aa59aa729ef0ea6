"""The datacenter simulator: vectorized env, its RLlib multi-agent view, workloads, baselines.

Public API:
    VectorDatacenterEnv, LevelObs, StepResult, LEVELS   -- B lockstep datacenters (numpy):
        reset / step (level by level) / step_hosts (a whole cycle for host-picking policies) /
        observe / metrics / reset_metrics / get_state / set_state / set_forecast /
        record_timeline
    EnvConfig                                            -- settings from conf/env/*.yaml
    HEURISTICS, make_heuristic, parse_heuristic          -- baseline policies by name, with
                                                            packing targets (best-fit@1.5)
    DurationEstimator                                    -- online run-time estimates
    DatacenterMultiAgentEnv, register_envs, ENV_NAME     -- RLlib MultiAgentEnv view
    EnvConfigError, WorkloadError, InvalidActionError,
    PolicySpecError                                      -- one-line user errors
"""

from envs.duration_estimator import DurationEstimator
from envs.errors import EnvConfigError, InvalidActionError, PolicySpecError, WorkloadError
from envs.heuristics import HEURISTICS, make_heuristic, parse_heuristic
from envs.vector_env import LEVELS, LevelObs, StepResult, VectorDatacenterEnv
from marl_alloc.floor.settings.env import EnvConfig

# The RLlib view imports Ray (seconds); load it only when asked for.
_RLLIB_VIEW = ("ENV_NAME", "DatacenterMultiAgentEnv", "register_envs")


def __getattr__(name: str):
    if name in _RLLIB_VIEW:
        from envs import multi_agent

        return getattr(multi_agent, name)
    raise AttributeError(f"module 'envs' has no attribute {name!r}")


__all__ = [
    "ENV_NAME",
    "DatacenterMultiAgentEnv",
    "LEVELS",
    "HEURISTICS",
    "DurationEstimator",
    "EnvConfig",
    "EnvConfigError",
    "InvalidActionError",
    "PolicySpecError",
    "LevelObs",
    "StepResult",
    "VectorDatacenterEnv",
    "WorkloadError",
    "make_heuristic",
    "parse_heuristic",
    "register_envs",
]
