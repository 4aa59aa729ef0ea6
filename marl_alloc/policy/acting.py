"""The acting policy of a trained MultiRLModule: what evaluate, tune, the benchmarks and the
extender act with, so each scores the policy exactly as training's actors fed it.

    policy, settings = load_acting_policy(checkpoint_dir)
    actions = policy.act(env, level_obs)
"""

from pathlib import Path
from typing import Any

import numpy as np

from envs import LevelObs, VectorDatacenterEnv
from marl_alloc.floor.settings import Settings
from marl_alloc.policy.forecast_feed import ForecastingPolicy
from marl_alloc.policy.forecaster import FORECASTER_ID


class ModulePolicy:
    """Greedy actions of a trained MultiRLModule (one sub-module per level), its Q networks
    frozen for acting (marl_alloc.policy.frozen_q): build a new one after the weights change."""

    def __init__(self, module: Any):
        import torch

        from marl_alloc.policy.frozen_q import freeze_level_q_nets
        from marl_alloc.policy.level_q_module import masked_greedy

        # One decision at a time on tiny networks: intra-op threads only add hand-off latency.
        torch.set_num_threads(1)
        self.q_nets = freeze_level_q_nets(module)
        self._torch = torch
        self._masked_greedy = masked_greedy

    def act(self, env: VectorDatacenterEnv, level_obs: LevelObs) -> np.ndarray:
        """Masked argmax of the level's Q values."""
        torch = self._torch
        obs = torch.from_numpy(level_obs.obs)
        mask = torch.from_numpy(level_obs.action_mask).bool()
        with torch.inference_mode():
            return self._masked_greedy(self.q_nets[level_obs.level](obs), mask).numpy()


def acting_policy(module: Any) -> ModulePolicy | ForecastingPolicy:
    """The greedy policy of a trained MultiRLModule (or a dict of its modules): a ModulePolicy,
    wrapped in a ForecastingPolicy that feeds it its forecasts when it has a forecaster."""
    policy = ModulePolicy(module)
    has_forecaster = FORECASTER_ID in (module.keys() if hasattr(module, "keys") else ())
    return ForecastingPolicy(policy, module[FORECASTER_ID]) if has_forecaster else policy


def load_acting_policy(
    checkpoint_dir: str | Path,
) -> tuple[ModulePolicy | ForecastingPolicy, Settings]:
    """A checkpoint's acting policy (with its forecast feed) and the settings it was trained
    with; a missing, corrupt or outdated checkpoint is a one-line UserError."""
    from marl_alloc.policy.checkpoint import load_policy

    module, settings = load_policy(checkpoint_dir)
    return acting_policy(module), settings
