"""Shared-weight dueling Q network for one level of the hierarchy (cluster, rack or leaf)."""

from typing import Any

import torch
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import QNetAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from marl_alloc.floor import columns as C
from marl_alloc.policy.graph_q_net import GraphQNet

Q_VALUES = "q_values"
NEXT_Q_VALUES = "next_q_values"
# Per action: the attention the acting agent paid to that action's node (zeros without GAT).
ACTION_ATTENTION = "action_attention"


def masked_greedy(q_values: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    """Argmax over the actions the mask allows."""
    return q_values.masked_fill(~action_mask, float("-inf")).argmax(dim=-1)


def double_q_next_value(
    online_next_q: torch.Tensor,
    next_mask: torch.Tensor,
    valued_next_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Double-Q value of the next state [B]: the online net's greedy action under the next mask,
    valued by `valued_next_q` (the target net's Q values; the online net's own when None)."""
    next_mask = next_mask.bool()
    # A terminal or sat-out next step has an all-False mask; any action is fine there, since
    # its discount (or its level's activity) is 0.
    next_mask = next_mask | ~next_mask.any(dim=-1, keepdim=True)
    best = masked_greedy(online_next_q, next_mask)
    valued = online_next_q if valued_next_q is None else valued_next_q
    return valued.gather(-1, best.unsqueeze(-1)).squeeze(-1)


def _obs_and_mask(batch: dict[str, Any], obs_key: str, mask_key: str) -> tuple[Any, Any]:
    # RLlib's env runners deliver the env's Dict observation; our replay stores flat columns.
    obs = batch[obs_key]
    if isinstance(obs, dict):
        return obs["obs"], obs["action_mask"].bool()
    mask = batch.get(mask_key)
    return obs, None if mask is None else mask.bool()


class DuelingQNet(nn.Module):
    """MLP torso with separate value and advantage heads, combined as V + A - mean(A)."""

    def __init__(self, obs_dim: int, num_actions: int, hidden_sizes: list[int], dueling: bool):
        super().__init__()
        layers: list[nn.Module] = []
        last = obs_dim
        for size in hidden_sizes:
            layers += [nn.Linear(last, size), nn.ReLU()]
            last = size
        self.torso = nn.Sequential(*layers)
        self.advantage = nn.Linear(last, num_actions)
        self.value = nn.Linear(last, 1) if dueling else None

    def forward(
        self, obs: torch.Tensor, attention: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Q values for every action, and zero attention when asked for (an MLP has none)."""
        features = self.torso(obs)
        q_values = self.advantage(features)
        if self.value is not None:
            q_values = self.value(features) + q_values - q_values.mean(dim=-1, keepdim=True)
        return q_values, torch.zeros_like(q_values) if attention else None


class LevelQModule(TorchRLModule, QNetAPI, TargetNetworkAPI):
    """RLModule for all agents of one level; explores epsilon-greedily within the action mask."""

    def setup(self) -> None:
        """Build the Q network from `model_config`: `encoder` gat (graph attention over the
        agent's children) or mlp (flat observation), plus their sizes."""
        cfg = self.model_config
        if cfg.get("encoder", "mlp") == "gat":
            self.q_net = GraphQNet(
                child_features=int(cfg["child_features"]),
                context_features=int(cfg["context_features"]),
                extra_actions=int(cfg.get("extra_actions", 0)),
                embed_dim=int(cfg.get("embed_dim", 64)),
                heads=int(cfg.get("heads", 2)),
                layers=int(cfg.get("gat_layers", 1)),
            )
            return
        self.q_net = DuelingQNet(
            obs_dim=int(self.observation_space["obs"].shape[0]),
            num_actions=int(self.action_space.n),
            hidden_sizes=list(cfg.get("hidden_sizes", [128, 128])),
            dueling=bool(cfg.get("dueling", True)),
        )

    def forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Greedy masked actions; a module already in eval mode skips RLlib's mode toggle."""
        # RLlib sets eval mode and restores it on every call, walking all submodules twice:
        # ~0.2 ms per level, a quarter of a three-level decision's budget.
        if self.training:
            return super().forward_inference(batch, **kwargs)
        return self._forward_inference(batch, **kwargs)

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs, mask = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        q_values, _ = self.q_net(obs, attention=False)
        return {C.ACTIONS: masked_greedy(q_values, mask), Q_VALUES: q_values}

    def forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Epsilon-greedy masked actions; as `forward_inference`, no mode toggle in eval mode."""
        if self.training:
            return super().forward_exploration(batch, **kwargs)
        return self._forward_exploration(batch, **kwargs)

    def _forward_exploration(
        self, batch: dict[str, Any], epsilon: float = 0.0, attention: bool = False, **kwargs
    ) -> dict[str, Any]:
        """With `attention`, the output also holds ACTION_ATTENTION, for actors that compute
        initial priorities from the acting pass."""
        obs, mask = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        q_values, per_action = self.q_net(obs, attention=attention)
        out = {C.ACTIONS: masked_greedy(q_values, mask), Q_VALUES: q_values}
        if attention:
            out[ACTION_ATTENTION] = per_action
        explore = torch.rand(mask.shape[0], device=mask.device) < epsilon
        if explore.any():
            random_actions = torch.multinomial(mask[explore].float(), 1).squeeze(-1)
            out[C.ACTIONS] = out[C.ACTIONS].clone()
            out[C.ACTIONS][explore] = random_actions
        return out

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs, _ = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        q_values, attention = self.q_net(obs)
        out = {Q_VALUES: q_values, ACTION_ATTENTION: attention}
        if C.NEXT_OBS in batch:
            next_obs, _ = _obs_and_mask(batch, C.NEXT_OBS, C.NEXT_ACTION_MASK)
            with torch.no_grad():
                out[NEXT_Q_VALUES] = self.q_net(next_obs, attention=False)[0]
        return out

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Q values and per-action attention of the online network (RLlib's QNetAPI)."""
        obs, _ = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        q_values, attention = self.q_net(obs)
        return {Q_VALUES: q_values, ACTION_ATTENTION: attention}

    def make_target_networks(self) -> None:
        """Create the target Q network as a copy of the online one."""
        self._target_q_net = make_target_network(self.q_net)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """The (online, target) pairs the learner syncs."""
        return [(self.q_net, self._target_q_net)]

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Target-network Q values for the batch's observations."""
        obs, _ = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        return {Q_VALUES: self._target_q_net(obs, attention=False)[0]}

    def next_q_values(self, next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Online and target Q values of next observations, without gradients: the double-Q
        pair, each network run once."""
        with torch.no_grad():
            online = self.q_net(next_obs, attention=False)[0]
            return online, self._target_q_net(next_obs, attention=False)[0]

    def get_non_inference_attributes(self) -> list[str]:
        """The target network is only needed by the learner."""
        return ["_target_q_net"]
