"""RLlib TorchLearner for Ape-X: n-step double Q-learning with IS weights; exposes |td| and the
attention on the taken action per item, the two halves of the replay priority.

With a `team` module (the mixer) in the policy, team batches get the credit-assignment loss:
the levels' Q values mixed into Q_tot, an IS-weighted Huber loss on it against the mixed target
networks' double-Q value, plus `credit_weight` times the variance of the levels' contributions.
RLlib sums the per-module losses before one backward pass, so this loss trains the level modules
as well as the mixer.

With a `forecaster` module, its rows (demand windows and the next bins' targets) get the L1 loss
of `forecast train`, in normalized units; their priorities stay uniform."""

from typing import Any

import numpy as np
import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from torch.nn import functional as F

from marl_alloc.floor import columns as C
from marl_alloc.policy import masked_greedy
from marl_alloc.policy.forecaster import (
    FORECAST_NORMALIZED,
    FORECAST_TARGETS,
    FORECASTER_ID,
    warm_start,
)
from marl_alloc.policy.level_q_module import ACTION_ATTENTION, NEXT_Q_VALUES, Q_VALUES
from marl_alloc.policy.mixer import contribution_variance
from marl_alloc.policy.team_values import team_values


class ApexTorchLearner(TorchLearner):
    """Double-Q loss over replayed n-step transitions; target nets synced every K updates."""

    def build(self) -> None:
        """Build modules, then their target networks."""
        super().build()
        self.module.foreach_module(
            lambda mid, mod: (
                mod.make_target_networks() if isinstance(mod, TargetNetworkAPI) else None
            )
        )
        self.num_gradient_updates = 0
        self.last_td_abs: dict[str, np.ndarray] = {}
        self.last_attention: dict[str, np.ndarray] = {}
        self.last_loss: dict[str, float] = {}
        # The team loss's parts in the last update: team_loss, credit_variance.
        self.last_credit: dict[str, float] = {}
        init = self.config.settings.model.forecaster.init
        if init and FORECASTER_ID in self.module:
            warm_start(self.module[FORECASTER_ID].unwrapped(), init)

    def configure_optimizers_for_module(self, module_id: str, config: Any = None) -> None:
        """RLlib's Adam per module, except for a module without parameters (the VDN mixer)."""
        if self.get_parameters(self._module[module_id]):
            super().configure_optimizers_for_module(module_id, config)

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        """Huber loss between Q(s, a) and r + gamma^k * Q_target(s', argmax_a' Q(s', a')); for
        the team module, the credit-assignment loss on Q_tot."""
        if module_id == C.TEAM:
            return self._team_loss(batch)
        if module_id == FORECASTER_ID:
            return self._forecast_loss(batch, fwd_out)
        module = self.module[module_id].unwrapped()
        q_values = fwd_out[Q_VALUES]
        actions = batch[C.ACTIONS].long()
        q_taken = q_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            next_mask = batch[C.NEXT_ACTION_MASK].bool()
            # A terminal transition has an all-False next mask; any action is fine there.
            next_mask = next_mask | ~next_mask.any(dim=-1, keepdim=True)
            next_actions = masked_greedy(fwd_out[NEXT_Q_VALUES], next_mask)
            target_q = module.forward_target({C.OBS: batch[C.NEXT_OBS]})[Q_VALUES]
            next_q = target_q.gather(-1, next_actions.unsqueeze(-1)).squeeze(-1)
            td_target = batch[C.REWARDS] + batch[C.DISCOUNTS] * next_q
        td_error = td_target - q_taken
        weights = batch[C.WEIGHTS] if C.WEIGHTS in batch else torch.ones_like(td_error)
        loss = (weights * F.huber_loss(q_taken, td_target, reduction="none")).mean()
        self.last_td_abs[module_id] = td_error.detach().abs().cpu().numpy()
        attention = fwd_out[ACTION_ATTENTION].gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        self.last_attention[module_id] = attention.detach().cpu().numpy()
        self.last_loss[module_id] = float(loss.detach())
        self.metrics.log_dict(
            {
                "q_loss": loss.item(),
                "q_mean": q_taken.mean().item(),
                "td_abs_mean": td_error.abs().mean().item(),
            },
            key=module_id,
            window=1,
        )
        return loss

    def _team_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """mixer_loss_weight * mean(w * (Huber(Q_tot, target) + credit_weight * Var_i(c_i)))."""
        levels = {level: self.module[level].unwrapped() for level in C.TEAM_LEVELS}
        values = team_values(levels, self.module[C.TEAM].unwrapped(), batch, target=True)
        td_error = values.td_target - values.q_tot
        huber = F.huber_loss(values.q_tot, values.td_target, reduction="none")
        variance = contribution_variance(values.contributions, values.active)
        weights = batch[C.WEIGHTS] if C.WEIGHTS in batch else torch.ones_like(td_error)
        team_loss = (weights * huber).mean()
        credit_variance = (weights * variance).mean()
        training = self.config.settings.training
        loss = training.mixer_loss_weight * (team_loss + training.credit_weight * credit_variance)
        self.last_td_abs[C.TEAM] = td_error.detach().abs().cpu().numpy()
        self.last_attention[C.TEAM] = values.attention.cpu().numpy()
        self.last_loss[C.TEAM] = float(loss.detach())
        self.last_credit = {
            "team_loss": team_loss.item(),
            "credit_variance": credit_variance.item(),
        }
        self.metrics.log_dict(
            {
                **self.last_credit,
                "q_tot_mean": values.q_tot.mean().item(),
                "td_abs_mean": td_error.abs().mean().item(),
            },
            key=C.TEAM,
            window=1,
        )
        return loss

    def _forecast_loss(self, batch: dict[str, Any], fwd_out: dict[str, Any]) -> torch.Tensor:
        """Mean L1 error of the normalized forecast; uniform priorities (|td| = attention = 0)."""
        net = self.module[FORECASTER_ID].unwrapped().net
        targets = net.normalize_targets(batch[FORECAST_TARGETS])
        error = (fwd_out[FORECAST_NORMALIZED] - targets).abs()
        loss = error.mean()
        zeros = np.zeros(len(error), np.float32)
        self.last_td_abs[FORECASTER_ID], self.last_attention[FORECASTER_ID] = zeros, zeros
        self.last_loss[FORECASTER_ID] = float(loss.detach())
        self.metrics.log_value((FORECASTER_ID, "forecast_l1"), loss.item(), window=1)
        return loss

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        """Sync target networks every `target_update_every` gradient updates."""
        super().after_gradient_based_update(timesteps=timesteps)
        self.num_gradient_updates += 1
        training = self.config.settings.training
        if self.num_gradient_updates % training.target_update_every:
            return
        for module in self.module._rl_modules.values():
            if isinstance(module.unwrapped(), TargetNetworkAPI):
                for online, target in module.unwrapped().get_target_network_pairs():
                    update_target_network(main_net=online, target_net=target, tau=training.tau)
