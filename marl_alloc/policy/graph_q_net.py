"""Graph-attention Q network: an acting agent and its children exchange messages with GAT.

A level's observation is `[children x child_features | task, time, carbon, forecast]`. Each
sample becomes one small graph: node 0 is the acting agent (the parent), nodes 1..n its children
(racks, leaf groups or hosts), with parent-child and sibling edges, which makes it complete. The
layers hold torch-geometric's `DenseGATConv` parameters (the GATConv operator on dense batched
graphs; tests check it against GATConv), and `complete_graph_gat` runs that operator for the
complete graph as a few batched matmuls. After message passing every child is scored by a head
shared across children: the weights do not depend on how many children a level has, so one
trained policy runs on any topology with the same feature layout.
"""

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import DenseGATConv


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    # In place: a Linear keeps its input for backward, not its output.
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)
    )


def complete_graph_gat(
    conv: DenseGATConv, x: torch.Tensor, parent_attention: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`conv(x, all-ones adjacency)` [B, N, C] (heads averaged), and with `parent_attention`
    node 0's attention over all nodes [B, N] (heads averaged, no gradient).

    The attention logits are linear in x, so their vectors fold into a [2 * heads, F] matrix
    and come from one small matmul; the messages come from another, contiguous, so one batched
    matmul aggregates them over sources and heads without a copy (DenseGATConv's per-head
    products and masks cost more than the arithmetic on small graphs). Averaging the heads is
    folded into the message weights, the bias into the aggregation.
    """
    batch, nodes, features = x.shape
    heads, channels = conv.heads, conv.out_channels
    weight = conv.lin.weight.view(heads, channels, features)
    to_src = (weight * conv.att_src.view(heads, channels, 1)).sum(1)
    to_dst = (weight * conv.att_dst.view(heads, channels, 1)).sum(1)
    alpha_src, alpha_dst = F.linear(x, torch.cat([to_src, to_dst])).split(heads, -1)
    # alpha[b, i, j, h]: destination i's attention on source j in head h
    alpha = alpha_src[:, None] + alpha_dst[:, :, None]
    alpha = F.leaky_relu(alpha, conv.negative_slope, inplace=True)
    alpha = alpha.softmax(dim=2)
    sources = F.linear(x, conv.lin.weight / heads).view(batch, nodes * heads, channels)
    out = torch.baddbmm(conv.bias, alpha.view(batch, nodes, nodes * heads), sources)
    if not parent_attention:
        return out, None
    return out, alpha[:, 0].detach().mean(-1)


def _linear_pair(layer: nn.Linear, per_item: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
    """`layer(cat([per_item, shared expanded over items]))` [B, n, out] without building the
    concatenation: the shared part is multiplied once per sample, not once per item."""
    w_item, w_shared = layer.weight.split([per_item.shape[-1], shared.shape[-1]], 1)
    return F.linear(per_item, w_item).add_(F.linear(shared, w_shared, layer.bias)[:, None])


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
        child_obs, context = obs.split([children * self.child_features, self.context_features], 1)
        child_obs = child_obs.reshape(batch, children, self.child_features)
        encoder = self.child_encoder
        child_x = encoder[2](_linear_pair(encoder[0], child_obs, context).relu_())
        parent_x = self.parent_encoder(
            torch.cat([context, child_obs.mean(1), child_obs.amax(1)], dim=-1)
        )
        x = torch.cat([parent_x[:, None], child_x], dim=1)
        per_node = None
        for conv in self.convs:
            out, seen = complete_graph_gat(conv, x, attention and conv is self.convs[-1])
            per_node = seen if seen is not None else per_node
            x = x + out.relu_()
        parent, kids = x.split([1, children], 1)
        parent = parent.squeeze(1)
        head = self.child_head
        advantage = head[2](_linear_pair(head[0], kids, parent).relu_()).squeeze(-1)
        if self.extra_head is not None:
            advantage = torch.cat([advantage, self.extra_head(parent)], dim=-1)
        q_values = self.value_head(parent) + advantage - advantage.mean(-1, keepdim=True)
        if per_node is None:
            return q_values, None
        # Children map to their own actions, the parent's self loop to the ones it scores itself.
        extra = per_node[:, :1].expand(-1, self.extra_actions)
        return q_values, torch.cat([per_node[:, 1:], extra], dim=-1)
