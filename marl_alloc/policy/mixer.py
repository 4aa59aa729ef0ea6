"""Credit assignment: mix the levels' Q values into a team value, and the variance of their shares.

Both mixers are linear in the agents' values, Q_tot = sum_i c_i + b(s) with contribution
c_i = w_i(s) * Q_i for the agents active in the cycle (a level that sat out contributes 0):
- VDN: w_i = 1, b = 0 (Sunehag et al. 2018).
- QMIX (one mixing layer): w_i(s) = |hyper_w(s)|_i >= 0 and b(s) from hypernetworks over the
  state, the levels' observations side by side (Rashid et al. 2018). Non-negative weights keep
  Q_tot monotonic in every Q_i, so each level's greedy action is the team's greedy action.

With `normalize` the active agents' weights sum to 1 (VDN: the mean; QMIX: a state-conditioned
convex combination). That is the scale the level modules' own losses give their values: each
level's stream is trained on the whole team reward, so each Q_i already estimates the team
return, and a plain sum would ask them for a share of it instead.
"""

import torch
from torch import nn

from marl_alloc.floor.settings.model import MIXER_KINDS


def _active_weights(weights: torch.Tensor, active: torch.Tensor, normalize: bool) -> torch.Tensor:
    weights = weights * active
    if normalize:
        weights = weights / weights.sum(-1, keepdim=True).clamp(min=1e-6)
    return weights


class VDNMixer(nn.Module):
    """Q_tot = the sum (with `normalize`, the mean) of the active agents' Q values; no
    parameters."""

    def __init__(self, normalize: bool = False):
        super().__init__()
        self.normalize = normalize

    def forward(
        self, agent_q: torch.Tensor, state: torch.Tensor, active: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q_tot [B], contributions [B, N]) from agent_q [B, N] and active [B, N]."""
        contributions = _active_weights(torch.ones_like(agent_q), active, self.normalize) * agent_q
        return contributions.sum(-1), contributions


class QMixer(nn.Module):
    """Q_tot = sum_i |w(s)|_i * Q_i + b(s), weights and bias from hypernetworks over the state."""

    def __init__(
        self, state_dim: int, num_agents: int, hypernet_hidden: int = 64, normalize: bool = False
    ):
        super().__init__()
        self.normalize = normalize
        self.hyper_w = nn.Sequential(
            nn.Linear(state_dim, hypernet_hidden), nn.ReLU(), nn.Linear(hypernet_hidden, num_agents)
        )
        self.hyper_b = nn.Sequential(
            nn.Linear(state_dim, hypernet_hidden), nn.ReLU(), nn.Linear(hypernet_hidden, 1)
        )

    def weights(self, state: torch.Tensor) -> torch.Tensor:
        """Non-negative mixing weights [B, N] for the state [B, S]."""
        return self.hyper_w(state).abs()

    def forward(
        self, agent_q: torch.Tensor, state: torch.Tensor, active: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q_tot [B], contributions [B, N]) from agent_q [B, N], state [B, S], active [B, N]."""
        contributions = _active_weights(self.weights(state), active, self.normalize) * agent_q
        return contributions.sum(-1) + self.hyper_b(state).squeeze(-1), contributions


def build_mixer(
    kind: str, state_dim: int, num_agents: int, hypernet_hidden: int, normalize: bool
) -> nn.Module:
    """The mixer `kind` names (vdn or qmix)."""
    if kind == "vdn":
        return VDNMixer(normalize)
    if kind == "qmix":
        return QMixer(state_dim, num_agents, hypernet_hidden, normalize)
    raise ValueError(f"model.mixer.kind must be none, {' or '.join(MIXER_KINDS)}; got {kind!r}")


def contribution_variance(contributions: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Per sample, the (population) variance of the active agents' contributions [B]; 0 where
    fewer than two agents acted."""
    count = active.sum(-1)
    mean = (contributions * active).sum(-1) / count.clamp(min=1)
    squared = (contributions - mean[:, None]).square() * active
    return torch.where(count >= 2, squared.sum(-1) / count.clamp(min=1), torch.zeros_like(mean))
