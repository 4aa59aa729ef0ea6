"""Team Q values of a team batch (columns `<level>_<column>`): the levels' Q values of the taken
actions, mixed, and the n-step double-Q target. `team_values` runs the level networks itself
(env actors' initial priorities, the learner's previous update path); the fused update runs them
once over all rows that need them and mixes their values here with `mix_team_values`."""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch

from marl_alloc.floor import columns as C
from marl_alloc.policy.level_q_module import ACTION_ATTENTION, Q_VALUES, double_q_next_value
from marl_alloc.policy.mixer_module import MixerModule


class TeamValues(NamedTuple):
    """What the team loss and the priorities need, per sample."""

    q_tot: torch.Tensor  # [B]
    contributions: torch.Tensor  # [B, N]: mixer-weighted Q of each level, 0 where it sat out
    active: torch.Tensor  # [B, N] float
    td_target: torch.Tensor  # [B], no gradient
    attention: torch.Tensor  # [B]: mean attention on the taken actions over active levels


def level_part(batch: Mapping[str, Any], level: str, column: str) -> Any:
    """One level's column of a team batch."""
    return batch[C.level_column(level, column)]


def taken(values: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Per row, the entry of the taken action [B] from per-action values [B, A]."""
    return values.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def mix_team_values(
    mixer: MixerModule,
    batch: Mapping[str, torch.Tensor],
    agent_q: Sequence[torch.Tensor],
    attention: Sequence[torch.Tensor],
    next_q: Sequence[torch.Tensor],
    target: bool,
) -> TeamValues:
    """Q_tot of the levels' taken-action values `agent_q` (with gradients), and the target
    r + gamma^k * Q_tot'(s', greedy a') mixing their next values `next_q` (the target mixer when
    `target`); each sequence holds one [B] tensor per level, in C.TEAM_LEVELS order."""
    levels = C.TEAM_LEVELS
    active = torch.stack([level_part(batch, lv, C.ACTIVE) for lv in levels], -1).float()
    next_active = torch.stack([level_part(batch, lv, C.NEXT_ACTIVE) for lv in levels], -1).float()
    obs = [level_part(batch, lv, C.OBS) for lv in levels]
    q_tot, contributions = mixer.mix(torch.stack(list(agent_q), -1), obs, active)
    with torch.no_grad():
        next_obs = [level_part(batch, lv, C.NEXT_OBS) for lv in levels]
        next_q_tot, _ = mixer.mix(torch.stack(list(next_q), -1), next_obs, next_active, target)
        td_target = batch[C.REWARDS] + batch[C.DISCOUNTS] * next_q_tot
        attended = torch.stack(list(attention), -1) * active
        mean_attention = attended.sum(-1) / active.sum(-1).clamp(min=1)
    return TeamValues(q_tot, contributions, active, td_target, mean_attention.detach())


def team_values(
    level_modules: Mapping[str, Any],
    mixer: MixerModule,
    batch: Mapping[str, torch.Tensor],
    target: bool,
) -> TeamValues:
    """Q_tot of the taken actions (with gradients into the level modules and the mixer) and the
    target r + gamma^k * Q_tot'(s', greedy a'), from the target networks when `target`."""
    agent_q, attention, next_q = [], [], []
    for level in C.TEAM_LEVELS:
        module = level_modules[level]
        out = module.compute_q_values({C.OBS: level_part(batch, level, C.OBS)})
        actions = level_part(batch, level, C.ACTIONS)
        agent_q.append(taken(out[Q_VALUES], actions))
        attention.append(taken(out[ACTION_ATTENTION], actions))
        next_obs = level_part(batch, level, C.NEXT_OBS)
        with torch.no_grad():
            online = module.compute_q_values({C.OBS: next_obs})[Q_VALUES]
            valued = module.forward_target({C.OBS: next_obs})[Q_VALUES] if target else None
            next_mask = level_part(batch, level, C.NEXT_ACTION_MASK)
            next_q.append(double_q_next_value(online, next_mask, valued))
    return mix_team_values(mixer, batch, agent_q, attention, next_q, target)
