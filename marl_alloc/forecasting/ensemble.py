"""A seed ensemble: forecasters of one config trained from different seeds, averaged."""

import torch
from torch import Tensor, nn

from marl_alloc.forecasting.model import ForecastNet, NetConfig


class ForecastEnsemble(nn.Module):
    """Mean forecast of member ForecastNets that share one NetConfig (and its normalization)."""

    def __init__(self, members: list[ForecastNet]):
        super().__init__()
        if not members or any(m.cfg != members[0].cfg for m in members):
            raise ValueError("an ensemble needs one or more members with the same NetConfig")
        self.members = nn.ModuleList(members)

    @property
    def cfg(self) -> NetConfig:
        """The members' NetConfig."""
        return self.members[0].cfg

    def forward_normalized(self, window: Tensor) -> Tensor:
        """Mean of the members' forecasts in normalized units [batch, horizon, M]."""
        return torch.stack([m.forward_normalized(window) for m in self.members]).mean(0)

    def forward(self, window: Tensor) -> Tensor:
        """Mean of the members' forecasts in data units [batch, horizon, M]."""
        return torch.stack([m(window) for m in self.members]).mean(0)

    def normalize_targets(self, y: Tensor) -> Tensor:
        """Targets [..., M] in the units of `forward_normalized` (the members share them)."""
        return self.members[0].normalize_targets(y)


Forecaster = ForecastNet | ForecastEnsemble


def build_forecaster(cfg: NetConfig, members: int) -> Forecaster:
    """An untrained forecaster: one net, or an ensemble of `members` nets."""
    if members == 1:
        return ForecastNet(cfg)
    return ForecastEnsemble([ForecastNet(cfg) for _ in range(members)])


def member_count(net: Forecaster) -> int:
    """How many nets a forecaster averages (1 for a plain ForecastNet)."""
    return len(net.members) if isinstance(net, ForecastEnsemble) else 1
