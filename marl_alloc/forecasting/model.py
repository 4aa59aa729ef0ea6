"""The hybrid forecaster: a BiLSTM and a Mamba pathway fused by a learned sigmoid gate."""

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from marl_alloc.floor.settings.forecast import PATHWAYS
from marl_alloc.forecasting.mamba_block import Mamba


@dataclass(frozen=True)
class NetConfig:
    """Sizes of the network; `pathways` picks the hybrid or an ablation (one pathway alone)."""

    num_features: int
    target_features: tuple[int, ...]
    horizon: int
    pathways: tuple[str, ...]
    lstm_hidden: int
    lstm_layers: int
    d_model: int
    d_state: int
    d_conv: int
    expand: int
    mamba_layers: int
    fusion_dim: int
    head_hidden: int
    dropout: float
    # Instance level (as RevIN): the mean of the window's last `level_steps` target values is
    # subtracted from each target and its lagged copies (`feature_targets`: per feature, the
    # target it copies, -1 for none) and is the anchor of the forecast; 0 anchors on the last
    # value and normalizes inputs with the training statistics alone.
    level_steps: int = 0
    feature_targets: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "NetConfig":
        """From a plain dict (the saved model, an RLModule's model_config); lists become tuples."""
        values = dict(values)
        values["target_features"] = tuple(values["target_features"])
        values["pathways"] = tuple(values["pathways"])
        values["feature_targets"] = tuple(values.get("feature_targets", ()))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that `from_dict` reads back."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class LSTMPathway(nn.Module):
    """Bidirectional LSTM; the final forward and backward states of the top layer, concatenated."""

    def __init__(self, num_features: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(
            num_features, hidden, num_layers=layers, batch_first=True, bidirectional=True
        )
        self.out_dim = 2 * hidden

    def forward(self, x: Tensor) -> Tensor:
        """[batch, W, F] -> [batch, 2 * hidden]."""
        _, (h_n, _) = self.lstm(x)
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)


class MambaPathway(nn.Module):
    """Pre-norm residual Mamba blocks over the projected window; the last step's features."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.embed = nn.Linear(cfg.num_features, cfg.d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(cfg.mamba_layers))
        self.mixers = nn.ModuleList(
            Mamba(cfg.d_model, cfg.d_state, cfg.d_conv, cfg.expand) for _ in range(cfg.mamba_layers)
        )
        self.final_norm = nn.LayerNorm(cfg.d_model)
        self.out_dim = cfg.d_model

    def forward(self, x: Tensor) -> Tensor:
        """[batch, W, F] -> [batch, d_model]; the scan is causal, so the last step saw it all."""
        h = self.embed(x)
        for norm, mixer in zip(self.norms, self.mixers, strict=True):
            h = h + mixer(norm(h))
        return self.final_norm(h[:, -1])


class GatedFusion(nn.Module):
    """a, b layer-normed; g = sigmoid(Linear(LayerNorm([a; b]))); out = g P_a(a) + (1 - g) P_b(b).

    Each pathway is normalized first: an LSTM's final state is ~10x smaller than the Mamba
    pathway's (layer-normed) output, and unnormalized the larger one takes the whole fusion.
    """

    def __init__(self, dim_a: int, dim_b: int, out_dim: int):
        super().__init__()
        self.norm_a, self.norm_b = nn.LayerNorm(dim_a), nn.LayerNorm(dim_b)
        self.norm = nn.LayerNorm(dim_a + dim_b)
        self.gate = nn.Linear(dim_a + dim_b, out_dim)
        self.proj_a = nn.Linear(dim_a, out_dim)
        self.proj_b = nn.Linear(dim_b, out_dim)

    def gate_values(self, a: Tensor, b: Tensor) -> Tensor:
        """The gate g [batch, out_dim] in (0, 1): the weight of pathway a per fused feature."""
        return torch.sigmoid(self.gate(self.norm(torch.cat([self.norm_a(a), self.norm_b(b)], -1))))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Fused features [batch, out_dim]."""
        g = self.gate_values(a, b)
        return g * self.proj_a(self.norm_a(a)) + (1 - g) * self.proj_b(self.norm_b(b))


class ForecastNet(nn.Module):
    """Raw feature window [batch, W, F] -> next-`horizon` targets [batch, horizon, M], data units.

    Inputs are normalized with the training statistics held as buffers (so they travel in the
    state dict); the head predicts each target's change from the window's level (`level_steps`).
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        unknown = set(cfg.pathways) - set(PATHWAYS)
        if not cfg.pathways or unknown:
            raise ValueError(
                f"pathways must be a non-empty subset of {PATHWAYS}, got {cfg.pathways}"
            )
        if cfg.level_steps and len(cfg.feature_targets) != cfg.num_features:
            raise ValueError("level_steps > 0 needs feature_targets, one entry per feature")
        self.cfg = cfg
        self.lstm = (
            LSTMPathway(cfg.num_features, cfg.lstm_hidden, cfg.lstm_layers)
            if "lstm" in cfg.pathways
            else None
        )
        self.mamba = MambaPathway(cfg) if "mamba" in cfg.pathways else None
        if self.lstm is not None and self.mamba is not None:
            self.fusion = GatedFusion(self.lstm.out_dim, self.mamba.out_dim, cfg.fusion_dim)
        else:
            # An ablation normalizes and projects its one pathway as the fusion does.
            single = self.lstm if self.lstm is not None else self.mamba
            self.fusion = nn.Sequential(
                nn.LayerNorm(single.out_dim), nn.Linear(single.out_dim, cfg.fusion_dim)
            )
        num_targets = len(cfg.target_features)
        self.head = nn.Sequential(
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.fusion_dim, cfg.head_hidden),
            nn.GELU(),
            nn.Linear(cfg.head_hidden, cfg.horizon * num_targets),
        )
        self.register_buffer("feature_mean", torch.zeros(cfg.num_features))
        self.register_buffer("feature_std", torch.ones(cfg.num_features))
        self.register_buffer("targets", torch.tensor(cfg.target_features, dtype=torch.long))
        # Derived from the config, so kept out of the state dict (which stays mamba-compatible).
        copies = torch.tensor(cfg.feature_targets or [-1] * cfg.num_features, dtype=torch.long)
        self.register_buffer("leveled", (copies >= 0) & (cfg.level_steps > 0), persistent=False)
        self.register_buffer("level_source", copies.clamp_min(0), persistent=False)

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Store per-feature statistics of the training split (std floored to avoid 0)."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-8))

    def features(self, x: Tensor) -> Tensor:
        """Fused representation [batch, fusion_dim] of a normalized window."""
        if self.lstm is not None and self.mamba is not None:
            return self.fusion(self.lstm(x), self.mamba(x))
        return self.fusion(self.lstm(x) if self.lstm is not None else self.mamba(x))

    def level(self, window: Tensor) -> Tensor:
        """The anchor [batch, 1, M] in data units: mean of the last `level_steps` target values."""
        return window[:, -max(self.cfg.level_steps, 1) :, self.targets].mean(1, keepdim=True)

    def normalize_inputs(self, window: Tensor, level: Tensor) -> Tensor:
        """Leveled features lose the level, the others the training mean; all scaled by the
        training std (so a shift of the whole series shifts nothing the network sees)."""
        shift = torch.where(self.leveled, level[..., self.level_source], self.feature_mean)
        return (window - shift) / self.feature_std

    def forward_normalized(self, window: Tensor) -> Tensor:
        """Forecast in normalized units [batch, horizon, M] (the training loss is taken here)."""
        level = self.level(window)
        x = self.normalize_inputs(window, level)
        change = self.head(self.features(x)).view(x.shape[0], self.cfg.horizon, -1)
        return self.normalize_targets(level) + change

    def forward(self, window: Tensor) -> Tensor:
        """Forecast in data units [batch, horizon, M]."""
        std, mean = self.feature_std[self.targets], self.feature_mean[self.targets]
        return self.forward_normalized(window) * std + mean

    def normalize_targets(self, y: Tensor) -> Tensor:
        """Targets [..., M] in the units of `forward_normalized`."""
        return (y - self.feature_mean[self.targets]) / self.feature_std[self.targets]
