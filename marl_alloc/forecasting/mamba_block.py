"""A Mamba mixer with mamba-ssm's parameter names and shapes: CUDA kernels on a GPU, else our scan.

`Mamba` owns `in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj` exactly as
`mamba_ssm.Mamba` does (same init), so a state dict moves between the two. On a CUDA tensor with
`mamba-ssm` installed (extra `[gpu]`) the forward runs mamba-ssm's own module over these same
parameters; otherwise the PyTorch selective scan of `mamba_scan`.
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from marl_alloc.forecasting.mamba_scan import selective_scan


def kernel_class() -> Any:
    """`mamba_ssm.Mamba` when mamba-ssm is importable, else None (it is an optional extra)."""
    try:
        from mamba_ssm import Mamba as KernelMamba
    except ImportError:
        return None
    return KernelMamba


class Mamba(nn.Module):
    """Selective state-space mixer [batch, L, d_model] -> [batch, L, d_model] (Gu & Dao, 2023)."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
    ):
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        # mamba-ssm's init: dt_proj keeps the variance of dt; softplus(bias) is log-uniform in
        # [dt_min, dt_max]; A is S4D-real (-1, -2, ..., -N) per channel; D starts at 1.
        bound = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        states = torch.arange(1, d_state + 1, dtype=torch.float32)
        self.A_log = nn.Parameter(torch.log(states).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))

    def forward(self, hidden_states: Tensor) -> Tensor:
        """Mix along the sequence; mamba-ssm's kernels when the input is on a GPU and installed."""
        if hidden_states.is_cuda and kernel_class() is not None:
            return self._kernel_module()(hidden_states)
        return self.torch_forward(hidden_states)

    def torch_forward(self, hidden_states: Tensor) -> Tensor:
        """The forward with our PyTorch scan, on any device."""
        length = hidden_states.shape[1]
        x, z = self.in_proj(hidden_states).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :length]).transpose(1, 2)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log.float())
        y = selective_scan(x, delta, A, B, C) + x * self.D
        return self.out_proj(y * F.silu(z))

    def _kernel_module(self) -> nn.Module:
        # A mamba_ssm.Mamba that shares this module's parameters, kept out of _modules so the
        # state dict stays ours; parameters are rebound on each call, as .to() may replace them.
        kernel = self.__dict__.get("_kernel")
        if kernel is None:
            kernel = kernel_class()(
                d_model=self.d_model, d_state=self.d_state, d_conv=self.d_conv, expand=self.expand
            )
            self.__dict__["_kernel"] = kernel
        for name, child in self.named_children():
            setattr(kernel, name, child)
        kernel.A_log, kernel.D = self.A_log, self.D
        return kernel
