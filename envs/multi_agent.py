"""DatacenterMultiAgentEnv: one datacenter as a turn-based RLlib MultiAgentEnv.

Each step exactly one agent acts (cluster_i, then rack_j, then leaf_k); a level with nothing to do
(the cluster deferred the task) is skipped. A decision cycle's reward goes to the agents that
acted in it. An episode is `episode_tasks` tasks, then `terminateds["__all__"]`.

    from envs import register_envs
    register_envs()
    config.environment("marl_alloc/datacenter", env_config={"env": {...}, "seed": 0})
"""

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from envs.vector_env import LevelObs, VectorDatacenterEnv

ENV_NAME = "marl_alloc/datacenter"


def level_of(agent_id: str) -> str:
    """The level an agent id belongs to: `rack_2` -> `rack`."""
    return agent_id.split("_", 1)[0]


class DatacenterMultiAgentEnv(MultiAgentEnv):
    """Turn-based multi-agent view of VectorDatacenterEnv with num_envs=1.

    config: {"env": <env config mapping>, "seed": int}; both optional.
    """

    def __init__(self, config: Mapping | None = None):
        super().__init__()
        config = dict(config or {})
        self.vector_env = VectorDatacenterEnv(
            config.get("env") or {}, num_envs=1, seed=int(config.get("seed", 0)), continuing=False
        )
        env = self.vector_env
        self.possible_agents = list(env.agent_ids)
        self.agents = list(env.agent_ids)
        self.observation_spaces = {
            agent: _observation_space(
                env.obs_dims[level_of(agent)], env.num_actions[level_of(agent)]
            )
            for agent in self.possible_agents
        }
        self.action_spaces = {
            agent: gym.spaces.Discrete(env.num_actions[level_of(agent)])
            for agent in self.possible_agents
        }
        self._level_obs: LevelObs | None = None
        self._last_obs: dict[str, dict[str, np.ndarray]] = {}
        self._acted: list[str] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """New episode; the first observation is the cluster agent's."""
        self._level_obs = self.vector_env.reset(seed=seed)
        self._acted, self._last_obs = [], {}
        return self._observe(), {}

    def step(self, action_dict: dict[str, Any]):
        """Apply the acting agent's action; return the next acting agent's observation."""
        agent = self._acting_agent()
        result = self.vector_env.step(np.array([int(action_dict[agent])]))
        self._acted.append(agent)
        # Levels with nothing to decide (the task was deferred) pass without an observation.
        while not result.cycle_end and not result.next.active[0]:
            result = self.vector_env.step(np.zeros(1, np.int64))
        self._level_obs = result.next
        rewards: dict[str, float] = {}
        if result.cycle_end:
            rewards = {a: float(result.reward[0]) for a in self._acted}
        done = bool(result.done[0])
        # At the end every agent of the last cycle gets its final observation back.
        obs = {a: self._last_obs[a] for a in self._acted} if done else self._observe()
        if result.cycle_end:
            self._acted = []
        return obs, rewards, {"__all__": done}, {"__all__": False}, {}

    def _acting_agent(self) -> str:
        lo = self._level_obs
        return f"{lo.level}_{int(lo.agent_index[0])}"

    def _observe(self) -> dict[str, dict[str, np.ndarray]]:
        lo, agent = self._level_obs, self._acting_agent()
        obs = {"obs": lo.obs[0], "action_mask": lo.action_mask[0].astype(np.float32)}
        self._last_obs[agent] = obs
        return {agent: obs}


def _observation_space(obs_dim: int, num_actions: int) -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "obs": gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
            "action_mask": gym.spaces.Box(0.0, 1.0, (num_actions,), np.float32),
        }
    )


def register_envs() -> None:
    """Register DatacenterMultiAgentEnv with ray.tune under ENV_NAME (idempotent)."""
    from ray.tune.registry import register_env

    register_env(ENV_NAME, lambda config: DatacenterMultiAgentEnv(config))
