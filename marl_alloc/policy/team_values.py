"""Team Q values of a team batch (columns `<level>_<column>`): the levels' Q values of the taken
actions, mixed, and the n-step double-Q target. Shared by the learner (with target networks) and
by env actors (initial priorities from their policy copy)."""

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from marl_alloc.floor import columns as C
from marl_alloc.policy.level_q_module import ACTION_ATTENTION, Q_VALUES, masked_greedy
from marl_alloc.policy.mixer_module import MixerModule


class TeamValues(NamedTuple):
    """What the team loss and the priorities need, per sample."""

    q_tot: torch.Tensor  # [B]
    contributions: torch.Tensor  # [B, N]: mixer-weighted Q of each level, 0 where it sat out
    active: torch.Tensor  # [B, N] float
    td_target: torch.Tensor  # [B], no gradient
    attention: torch.Tensor  # [B]: mean attention on the taken actions over active levels


def _level(batch: Mapping[str, Any], level: str, column: str) -> torch.Tensor:
    return batch[C.level_column(level, column)]


def _taken(values: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return values.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def next_level_q(module: Any, next_obs: torch.Tensor, next_mask: torch.Tensor, target: bool):
    """Double-Q value of the next state: the online net's greedy action under the next mask,
    valued by the target net (or the online one when `target` is False)."""
    next_mask = next_mask.bool()
    # A terminal or sat-out next step has an all-False mask; any action is fine there.
    next_mask = next_mask | ~next_mask.any(dim=-1, keepdim=True)
    online = module.compute_q_values({C.OBS: next_obs})[Q_VALUES]
    best = masked_greedy(online, next_mask)
    valued = module.forward_target({C.OBS: next_obs})[Q_VALUES] if target else online
    return _taken(valued, best)


def team_values(
    level_modules: Mapping[str, Any],
    mixer: MixerModule,
    batch: Mapping[str, torch.Tensor],
    target: bool,
) -> TeamValues:
    """Q_tot of the taken actions (with gradients into the level modules and the mixer) and the
    target r + gamma^k * Q_tot'(s', greedy a'), from the target networks when `target`."""
    levels = list(level_modules)
    agent_q, attention, next_q = [], [], []
    for level in levels:
        module = level_modules[level]
        out = module.compute_q_values({C.OBS: _level(batch, level, C.OBS)})
        actions = _level(batch, level, C.ACTIONS)
        agent_q.append(_taken(out[Q_VALUES], actions))
        attention.append(_taken(out[ACTION_ATTENTION], actions))
        with torch.no_grad():
            next_q.append(
                next_level_q(
                    module,
                    _level(batch, level, C.NEXT_OBS),
                    _level(batch, level, C.NEXT_ACTION_MASK),
                    target,
                )
            )
    active = torch.stack([_level(batch, lv, C.ACTIVE) for lv in levels], -1).float()
    next_active = torch.stack([_level(batch, lv, C.NEXT_ACTIVE) for lv in levels], -1).float()
    obs = [_level(batch, lv, C.OBS) for lv in levels]
    q_tot, contributions = mixer.mix(torch.stack(agent_q, -1), obs, active)
    with torch.no_grad():
        next_obs = [_level(batch, lv, C.NEXT_OBS) for lv in levels]
        next_q_tot, _ = mixer.mix(torch.stack(next_q, -1), next_obs, next_active, target=target)
        td_target = batch[C.REWARDS] + batch[C.DISCOUNTS] * next_q_tot
        mean_attention = (torch.stack(attention, -1) * active).sum(-1) / active.sum(-1).clamp(min=1)
    return TeamValues(q_tot, contributions, active, td_target, mean_attention.detach())
