"""Graph-attention Q network: an acting agent and its children exchange messages with GAT.

A level's observation is `[children x child_features | task, time, carbon, forecast]`. Each
sample becomes one small graph: node 0 is the acting agent (the parent), nodes 1..n its children
(racks, leaf groups or hosts), with parent-child and sibling edges, which makes it complete. So
the layers are torch-geometric's `DenseGATConv`, the GATConv operator on dense batched graphs (same
parameters, same output; tests check it against GATConv), which runs as batched matmuls instead of
per-edge scatters. After message passing every child is scored by a head shared across children:
the weights do not depend on how many children a level has, so one trained policy runs on any
topology with the same feature layout.
"""

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import DenseGATConv


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def parent_attention(conv: DenseGATConv, x: torch.Tensor) -> torch.Tensor:
    """[B, N] attention of node 0 (the parent) over all nodes in `conv`, heads averaged: the
    softmax row DenseGATConv computes internally for the parent on a complete graph."""
    batch, nodes, _ = x.shape
    h = conv.lin(x).view(batch, nodes, conv.heads, conv.out_channels)
    alpha_src = (h * conv.att_src).sum(-1)  # [B, N, H]
    alpha_dst = (h[:, :1] * conv.att_dst).sum(-1)  # [B, 1, H]
    scores = F.leaky_relu(alpha_src + alpha_dst, conv.negative_slope)
    return scores.softmax(dim=1).mean(-1)


class GraphQNet(nn.Module):
    """Dueling Q over children (plus `extra_actions` scored from the parent, e.g. defer)."""

    def __init__(
        self,
        child_features: int,
        context_features: int,
        extra_actions: int,
        embed_dim: int = 64,
        heads: int = 2,
        layers: int = 1,
    ):
        super().__init__()
        self.child_features = child_features
        self.context_features = context_features
        self.extra_actions = extra_actions
        self.child_encoder = _mlp(child_features + context_features, embed_dim, embed_dim)
        self.parent_encoder = _mlp(2 * child_features + context_features, embed_dim, embed_dim)
        self.convs = nn.ModuleList(
            DenseGATConv(embed_dim, embed_dim, heads=heads, concat=False) for _ in range(layers)
        )
        self.child_head = _mlp(2 * embed_dim, embed_dim, 1)
        self.value_head = _mlp(embed_dim, embed_dim, 1)
        self.extra_head = _mlp(embed_dim, embed_dim, extra_actions) if extra_actions else None

    def forward(
        self, obs: torch.Tensor, attention: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Q values [B, A] and the parent's attention on each action's node [B, A] (None when
        not asked for: acting needs only Q values)."""
        batch = obs.shape[0]
        children = (obs.shape[1] - self.context_features) // self.child_features
        split = children * self.child_features
        child_obs = obs[:, :split].reshape(batch, children, self.child_features)
        context = obs[:, split:]
        child_x = self.child_encoder(
            torch.cat([child_obs, context[:, None].expand(-1, children, -1)], dim=-1)
        )
        parent_x = self.parent_encoder(
            torch.cat([context, child_obs.mean(1), child_obs.amax(1)], dim=-1)
        )
        x = torch.cat([parent_x[:, None], child_x], dim=1)
        adjacency = x.new_ones(children + 1, children + 1)
        per_node = None
        for conv in self.convs:
            if attention and conv is self.convs[-1]:
                with torch.no_grad():
                    per_node = parent_attention(conv, x)
            x = x + torch.relu(conv(x, adjacency))
        parent, kids = x[:, 0], x[:, 1:]
        advantage = self.child_head(
            torch.cat([kids, parent[:, None].expand(-1, children, -1)], dim=-1)
        ).squeeze(-1)
        if self.extra_head is not None:
            advantage = torch.cat([advantage, self.extra_head(parent)], dim=-1)
        q_values = self.value_head(parent) + advantage - advantage.mean(-1, keepdim=True)
        if per_node is None:
            return q_values, None
        # Children map to their own actions, the parent's self loop to the ones it scores itself.
        extra = per_node[:, :1].expand(-1, self.extra_actions)
        return q_values, torch.cat([per_node[:, 1:], extra], dim=-1)
