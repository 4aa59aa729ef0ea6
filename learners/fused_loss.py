"""One pass for one update: every level network runs once over all rows that need it (its own
stream's rows and the team rows, concatenated), and all losses come from that pass.

Per level: the online network with gradients over [own obs; team obs], then the online and target
networks without gradients over [own next obs; team next obs] (the double-Q pair). The level's
loss takes its own rows; the team rows' taken-action values, attention and next values go to the
mixer for the Q_tot loss and the credit term. The forecaster is not part of it: the learner
trains it on its own cadence (learners/forecaster_stream.py).
"""

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn

from learners.losses import q_loss, team_loss
from marl_alloc.floor import columns as C
from marl_alloc.policy.level_q_module import double_q_next_value
from marl_alloc.policy.team_values import level_part, mix_team_values, taken

Columns = Mapping[str, torch.Tensor]
Batch = Mapping[str, Columns]


class FusedLoss(NamedTuple):
    """The summed loss to differentiate, and per module its loss (detached) and priority parts."""

    total: torch.Tensor
    losses: dict[str, torch.Tensor]
    td_abs: dict[str, torch.Tensor]
    attention: dict[str, torch.Tensor]
    credit: dict[str, torch.Tensor]  # team_loss and credit_variance when the batch has team rows


class _LevelPass(NamedTuple):
    q_values: list[torch.Tensor]  # [rows, A] per part
    attention: list[torch.Tensor]
    next_value: list[torch.Tensor]  # [rows] per part


def _parts(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def _level_pass(
    module: nn.Module, level: str, own: Columns | None, team: Columns | None
) -> _LevelPass:
    """The level's networks over its own rows (if sampled) followed by the team rows (if any)."""
    pick = []
    if own is not None:
        pick.append(own.__getitem__)
    if team is not None:
        pick.append(lambda name: level_part(team, level, name))
    sizes = [len(get(C.OBS)) for get in pick]
    q_values, attention = module.q_net(_parts([get(C.OBS) for get in pick]))
    online, target = module.next_q_values(_parts([get(C.NEXT_OBS) for get in pick]))
    next_mask = _parts([get(C.NEXT_ACTION_MASK) for get in pick])
    next_value = double_q_next_value(online, next_mask, target)
    return _LevelPass(
        list(q_values.split(sizes)), list(attention.split(sizes)), list(next_value.split(sizes))
    )


def fused_loss(
    modules: Mapping[str, nn.Module],
    batch: Batch,
    mixer_loss_weight: float,
    credit_weight: float,
) -> FusedLoss:
    """The policy modules' losses for `batch` (module id -> columns) from one pass of each
    network; `modules` maps module ids to the (unwrapped) RLModules of the policy."""
    team = batch.get(C.TEAM)
    losses, td_abs, attention, credit = {}, {}, {}, {}
    team_q, team_attention, team_next = [], [], []
    for level in C.TEAM_LEVELS:
        own = batch.get(level)
        if level not in modules or (own is None and team is None):
            continue
        out = _level_pass(modules[level], level, own, team)
        if own is not None:
            losses[level], td = q_loss(out.q_values[0], own, out.next_value[0])
            td_abs[level] = td.detach().abs()
            attention[level] = taken(out.attention[0], own[C.ACTIONS])
        if team is not None:
            actions = level_part(team, level, C.ACTIONS)
            team_q.append(taken(out.q_values[-1], actions))
            team_attention.append(taken(out.attention[-1], actions))
            team_next.append(out.next_value[-1])
    if team is not None:
        values = mix_team_values(
            modules[C.TEAM], team, team_q, team_attention, team_next, target=True
        )
        parts = team_loss(values, team, mixer_loss_weight, credit_weight)
        losses[C.TEAM], td_abs[C.TEAM] = parts.loss, parts.td_error.detach().abs()
        attention[C.TEAM] = values.attention
        credit = {
            "team_loss": parts.team_loss.detach(),
            "credit_variance": parts.credit_variance.detach(),
        }
    total = torch.stack(list(losses.values())).sum()
    detached = {module_id: loss.detach() for module_id, loss in losses.items()}
    return FusedLoss(total, detached, td_abs, attention, credit)
