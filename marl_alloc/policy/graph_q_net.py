"""Graph-attention Q network: an acting agent and its children exchange messages with GATConv.

A level's observation is `[children x child_features | task, time, carbon, forecast]`. Each
sample becomes one small graph: node 0 is the acting agent (the parent), nodes 1..n its children
(racks, leaf groups or hosts), with parent-child and sibling edges. After message passing, every
child is scored by a head shared across children, so the weights do not depend on how many
children a level has: one trained policy runs on any topology with the same feature layout.
"""

import torch
from torch import nn
from torch_geometric.nn import GATConv


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class HierarchyEdges:
    """Batched edge_index of B complete graphs over (parent + n children) with self loops,
    cached per shape: built once here rather than re-derived by GATConv at every call."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, torch.device], torch.Tensor] = {}

    def __call__(self, batch: int, children: int, device: torch.device) -> torch.Tensor:
        """Edges of `batch` graphs."""
        key = (batch, children, device)
        if key not in self._cache:
            nodes = children + 1
            src, dst = torch.meshgrid(torch.arange(nodes), torch.arange(nodes), indexing="ij")
            one = torch.stack([src.reshape(-1), dst.reshape(-1)])
            offsets = (torch.arange(batch) * nodes).repeat_interleave(one.shape[1])
            edges = one.repeat(1, batch) + offsets
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = edges.to(device)
        return self._cache[key]


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
            GATConv(embed_dim, embed_dim, heads=heads, concat=False, add_self_loops=False)
            for _ in range(layers)
        )
        self.child_head = _mlp(2 * embed_dim, embed_dim, 1)
        self.value_head = _mlp(embed_dim, embed_dim, 1)
        self.extra_head = _mlp(embed_dim, embed_dim, extra_actions) if extra_actions else None
        self.edges = HierarchyEdges()

    def forward(
        self, obs: torch.Tensor, attention: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Q values [B, A] and the parent's attention on each action's node [B, A] (None when
        not asked for: acting needs only Q values, and skipping it halves the latency)."""
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
        x = torch.cat([parent_x[:, None], child_x], dim=1).reshape(batch * (children + 1), -1)
        edge_index = self.edges(batch, children, obs.device)
        for index, conv in enumerate(self.convs):
            if attention and index == len(self.convs) - 1:
                out, (att_edges, alpha) = conv(x, edge_index, return_attention_weights=True)
            else:
                out = conv(x, edge_index)
            x = x + torch.relu(out)
        nodes = x.reshape(batch, children + 1, -1)
        parent, kids = nodes[:, 0], nodes[:, 1:]
        advantage = self.child_head(
            torch.cat([kids, parent[:, None].expand(-1, children, -1)], dim=-1)
        ).squeeze(-1)
        if self.extra_head is not None:
            advantage = torch.cat([advantage, self.extra_head(parent)], dim=-1)
        q_values = self.value_head(parent) + advantage - advantage.mean(-1, keepdim=True)
        if not attention:
            return q_values, None
        return q_values, self._parent_attention(att_edges, alpha, batch, children)

    def _parent_attention(
        self, edges: torch.Tensor, alpha: torch.Tensor, batch: int, children: int
    ) -> torch.Tensor:
        # Attention of the last layer into each parent node, by source: children map to their
        # own actions, the parent's self loop to the actions it scores itself (defer).
        nodes = children + 1
        into_parent = edges[1] % nodes == 0
        src = edges[0, into_parent] % nodes
        rows = edges[1, into_parent] // nodes
        per_node = torch.zeros(batch, nodes, dtype=alpha.dtype, device=alpha.device)
        per_node[rows, src] = alpha[into_parent].mean(-1).detach()
        if not self.extra_actions:
            return per_node[:, 1:]
        return torch.cat([per_node[:, 1:], per_node[:, :1].expand(-1, self.extra_actions)], -1)
