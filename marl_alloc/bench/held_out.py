"""Greedy evaluation on fixed held-out synthetic episodes, all stepped in one vector env.

One batched env runs every episode at once, so a policy forward pass serves all of them: 16
episodes of 300 tasks cost about what one costs through `scoring.score` (a few seconds on CPU),
cheap enough to score the weights many times during a training run.
"""

import dataclasses
from typing import Any

import numpy as np

from envs import VectorDatacenterEnv
from marl_alloc.floor.settings import EnvConfig
from marl_alloc.scoring import Policy


class HeldOutEpisodes:
    """`episodes` finite episodes of `tasks` tasks each, the same ones on every call (`seed`)."""

    def __init__(self, env_settings: EnvConfig, episodes: int, tasks: int, seed: int):
        self.env_settings = dataclasses.replace(env_settings, episode_tasks=tasks)
        self.episodes, self.seed = int(episodes), int(seed)

    def mean_cost(self, policy: Policy) -> float:
        """The configured total cost per episode (the negated summed reward), mean over episodes."""
        env = VectorDatacenterEnv(
            self.env_settings, num_envs=self.episodes, seed=self.seed, continuing=False
        )
        level_obs = env.observe()
        cost = np.zeros(self.episodes)
        while True:
            result = env.step(policy.act(env, level_obs))
            level_obs = result.next
            if result.cycle_end:
                cost -= result.reward  # finished episodes report 0
                if result.done.all():
                    return float(cost.mean())


def current_policy(algo: Any) -> Policy:
    """The greedy policy of the algorithm's latest learner weights (train.RoundHook's `algo`),
    observing its forecaster's forecasts when it has one."""
    return algo.acting_policy()
