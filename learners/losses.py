"""The learner's loss terms, shared by the fused update and RLlib's per-module update path.

- Level modules: IS-weighted Huber loss of Q(s, a) against the n-step double-Q target
  r + gamma^k * Q_target(s', argmax_a' Q(s', a')).
- Team (the mixer): mixer_loss_weight * mean(w * (Huber(Q_tot, target) + credit_weight *
  Var_i(c_i))), the variance of the active levels' contributions c_i.
- Forecaster: mean L1 error of the normalized forecast.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch.nn import functional as F

from marl_alloc.floor import columns as C
from marl_alloc.policy.forecaster import FORECAST_TARGETS
from marl_alloc.policy.mixer import contribution_variance
from marl_alloc.policy.team_values import TeamValues, taken


def _weights(batch: Mapping[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return batch[C.WEIGHTS] if C.WEIGHTS in batch else torch.ones_like(like)


def q_loss(
    q_values: torch.Tensor, batch: Mapping[str, torch.Tensor], next_value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(IS-weighted Huber loss, TD errors [B]) of a level's Q values [B, A] on its stream's
    rows, `next_value` [B] being the double-Q value of each row's next state."""
    q_taken = taken(q_values, batch[C.ACTIONS])
    td_target = batch[C.REWARDS] + batch[C.DISCOUNTS] * next_value.detach()
    td_error = td_target - q_taken
    huber = F.huber_loss(q_taken, td_target, reduction="none")
    return (_weights(batch, td_error) * huber).mean(), td_error


class TeamLoss(NamedTuple):
    """The credit-assignment loss and its parts (scalars) and the TD error of Q_tot [B]."""

    loss: torch.Tensor
    team_loss: torch.Tensor
    credit_variance: torch.Tensor
    td_error: torch.Tensor


def team_loss(
    values: TeamValues,
    batch: Mapping[str, torch.Tensor],
    mixer_loss_weight: float,
    credit_weight: float,
) -> TeamLoss:
    """mixer_loss_weight * mean(w * (Huber(Q_tot, target) + credit_weight * Var_i(c_i)))."""
    td_error = values.td_target - values.q_tot
    huber = F.huber_loss(values.q_tot, values.td_target, reduction="none")
    variance = contribution_variance(values.contributions, values.active)
    weights = _weights(batch, td_error)
    huber_mean = (weights * huber).mean()
    credit_variance = (weights * variance).mean()
    loss = mixer_loss_weight * (huber_mean + credit_weight * credit_variance)
    return TeamLoss(loss, huber_mean, credit_variance, td_error)


def forecast_loss(net: Any, batch: Mapping[str, torch.Tensor], normalized: torch.Tensor):
    """Mean L1 error of the forecaster's normalized forecast against the batch's targets."""
    return (normalized - net.normalize_targets(batch[FORECAST_TARGETS])).abs().mean()
