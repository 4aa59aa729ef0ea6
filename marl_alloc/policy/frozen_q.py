"""Q networks frozen for acting with fixed weights: traced once, the weights folded in.

A single-row forward of a level's Q network is ~30 small ops, and eager PyTorch spends most of it
in Python dispatch (~300 us per level on a 2-core machine); the frozen TorchScript graph runs the
same ops with the same results in about half that. The weights are copied in, so a policy whose
weights change (training) keeps its eager networks and freezes again when it needs to.
"""

import copy
import warnings
from typing import Any

import torch
from torch import nn

from marl_alloc.floor import columns as C


class _QValuesOnly(nn.Module):
    """Acting needs the Q values alone, not the attention the learner records."""

    def __init__(self, q_net: nn.Module):
        super().__init__()
        self.q_net = q_net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_net(obs, attention=False)[0]


def freeze_q_net(q_net: nn.Module, obs_dim: int) -> torch.jit.ScriptModule:
    """`q_net`'s Q values as a frozen TorchScript module: float32 [B, obs_dim] -> [B, actions]
    for any B. `q_net` itself is left as it was."""
    acting = _QValuesOnly(copy.deepcopy(q_net)).eval()
    example = torch.zeros(2, obs_dim)
    with torch.no_grad(), warnings.catch_warnings():
        # torch.jit's deprecation notice: tracing is what makes the graph Python-free here.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(acting, example)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))


def freeze_level_q_nets(module: Any) -> dict[str, torch.jit.ScriptModule]:
    """The frozen Q networks of a policy's cluster, rack and leaf modules."""
    return {
        level: freeze_q_net(module[level].q_net, module[level].observation_space["obs"].shape[0])
        for level in C.TEAM_LEVELS
    }
