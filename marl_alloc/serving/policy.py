"""The trained level Q modules, run on many requests' observation rows at once."""

from typing import Any

import numpy as np
import torch

from marl_alloc.floor.levels import LEVELS
from marl_alloc.floor.settings import Settings
from marl_alloc.policy.frozen_q import freeze_level_q_nets
from marl_alloc.serving.hierarchy import LevelInputs


class LevelQPolicy:
    """Q values per level for a batch of requests: one forward pass per level for all of them."""

    def __init__(self, module: Any):
        # The sizes the extender checks against its env config come from the module itself.
        self.obs_dims = {
            level: int(module[level].observation_space["obs"].shape[0]) for level in LEVELS
        }
        self.num_actions = {level: int(module[level].action_space.n) for level in LEVELS}
        # The level modules' Q networks, frozen (marl_alloc.policy.frozen_q), called on the
        # feasible rows only: scoring needs Q values, not a masked greedy action over every row.
        self.q_nets = freeze_level_q_nets(module)

    @classmethod
    def from_checkpoint(cls, checkpoint_dir: str) -> tuple["LevelQPolicy", Settings]:
        """The checkpoint's policy and the settings it was trained with."""
        from marl_alloc.policy.checkpoint import load_policy

        module, settings = load_policy(checkpoint_dir)
        return cls(module), settings

    def q_values(self, batch: list[LevelInputs]) -> list[dict[str, np.ndarray]]:
        """Per request, level -> float32[all rows, num_actions] Q values (-inf on the rows
        without a feasible action, which the policy does not see)."""
        out: list[dict[str, np.ndarray]] = [{} for _ in batch]
        with torch.inference_mode():
            for level in LEVELS:
                sizes = [len(inputs.rows[level]) for inputs in batch]
                parts = [inputs.obs[level] for inputs in batch]
                obs = parts[0] if len(parts) == 1 else np.concatenate(parts)
                if len(obs):
                    q = self.q_nets[level](torch.from_numpy(obs)).numpy()
                else:  # no feasible action on this level: nothing to score
                    q = np.zeros((0, self.num_actions[level]), np.float32)
                for i, part in enumerate(np.split(q, np.cumsum(sizes)[:-1])):
                    inputs = batch[i]
                    full = np.full(inputs.mask[level].shape, -np.inf, np.float32)
                    full[inputs.rows[level]] = part
                    out[i][level] = full
        return out
