"""The trained level Q modules, run on many requests' decisions at once, and the policy's
forecaster when it has one (marl_alloc.serving.forecasts runs it)."""

from typing import Any

import numpy as np
import torch

from marl_alloc.floor.levels import LEVELS
from marl_alloc.floor.settings import Settings
from marl_alloc.policy.forecaster import FORECASTER_ID, DemandForecasterModule, check_sizes
from marl_alloc.policy.frozen_q import freeze_level_q_nets
from marl_alloc.serving.decisions import HoldDecision, PolicyAnswer, ScoreDecision

Decision = ScoreDecision | HoldDecision


class LevelQPolicy:
    """Q values per level for a batch of decisions: one forward pass per level for all of them."""

    def __init__(self, module: Any):
        # The sizes the extender checks against its env config come from the module itself.
        self.obs_dims = {
            level: int(module[level].observation_space["obs"].shape[0]) for level in LEVELS
        }
        self.num_actions = {level: int(module[level].action_space.n) for level in LEVELS}
        # The level modules' Q networks, frozen (marl_alloc.policy.frozen_q), called on the
        # rows a decision needs only: scoring needs Q values, not a greedy action per row.
        self.q_nets = freeze_level_q_nets(module)
        has_forecaster = FORECASTER_ID in (module.keys() if hasattr(module, "keys") else ())
        self.forecaster: DemandForecasterModule | None = (
            module[FORECASTER_ID] if has_forecaster else None
        )

    @classmethod
    def from_checkpoint(cls, checkpoint_dir: str) -> tuple["LevelQPolicy", Settings]:
        """The checkpoint's policy and the settings it was trained with; a one-line UserError
        when its forecaster's window or horizon is not what its settings say the policy reads."""
        from marl_alloc.policy.checkpoint import load_policy

        module, settings = load_policy(checkpoint_dir)
        policy = cls(module)
        if policy.forecaster is not None:
            wanted = settings.model.forecaster
            sizes = (policy.forecaster.window, policy.forecaster.net.cfg.horizon)
            check_sizes(checkpoint_dir, sizes, (wanted.window, wanted.horizon))
        return policy, settings

    def q_values(self, level: str, obs: np.ndarray) -> np.ndarray:
        """float32[rows, num_actions]: `level`'s Q values of these observation rows;
        FloatingPointError when one is not finite (a broken policy: the caller falls back)."""
        with torch.inference_mode():
            q = self.q_nets[level](torch.from_numpy(obs)).numpy()
        if not np.isfinite(q).all():
            raise FloatingPointError(f"the policy's {level}-level Q values are not finite")
        return q

    def decide(self, batch: list[Decision]) -> list[PolicyAnswer]:
        """Each decision's answer, asking every level (cluster first) for the rows the
        decisions need, in one forward pass per level."""
        for level in LEVELS:
            wanted = [(decision, decision.rows(level)) for decision in batch]
            wanted = [(decision, rows) for decision, rows in wanted if len(rows)]
            if not wanted:
                continue
            parts = [decision.observations(level, rows) for decision, rows in wanted]
            q = self.q_values(level, parts[0] if len(parts) == 1 else np.concatenate(parts))
            ends = np.cumsum([len(rows) for _, rows in wanted])
            for (decision, rows), part in zip(wanted, np.split(q, ends[:-1]), strict=True):
                decision.take(level, rows, part)
        return [decision.result() for decision in batch]
