"""Shared-weight dueling Q network for one level of the hierarchy (cluster, rack or leaf)."""

from typing import Any

import torch
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import QNetAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from marl_alloc import columns as C

Q_VALUES = "q_values"
NEXT_Q_VALUES = "next_q_values"


def masked_greedy(q_values: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    """Argmax over the actions the mask allows."""
    return q_values.masked_fill(~action_mask, float("-inf")).argmax(dim=-1)


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

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q values for every action."""
        features = self.torso(obs)
        advantage = self.advantage(features)
        if self.value is None:
            return advantage
        return self.value(features) + advantage - advantage.mean(dim=-1, keepdim=True)


class LevelQModule(TorchRLModule, QNetAPI, TargetNetworkAPI):
    """RLModule for all agents of one level; explores epsilon-greedily within the action mask."""

    def setup(self) -> None:
        """Build the Q network from `model_config` (hidden_sizes, dueling)."""
        obs_space = self.observation_space["obs"]
        self.q_net = DuelingQNet(
            obs_dim=int(obs_space.shape[0]),
            num_actions=int(self.action_space.n),
            hidden_sizes=list(self.model_config.get("hidden_sizes", [128, 128])),
            dueling=bool(self.model_config.get("dueling", True)),
        )

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs, mask = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        q_values = self.q_net(obs)
        return {C.ACTIONS: masked_greedy(q_values, mask), Q_VALUES: q_values}

    def _forward_exploration(
        self, batch: dict[str, Any], epsilon: float = 0.0, **kwargs
    ) -> dict[str, Any]:
        out = self._forward_inference(batch)
        _, mask = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        explore = torch.rand(mask.shape[0], device=mask.device) < epsilon
        if explore.any():
            random_actions = torch.multinomial(mask[explore].float(), 1).squeeze(-1)
            out[C.ACTIONS] = out[C.ACTIONS].clone()
            out[C.ACTIONS][explore] = random_actions
        return out

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs, _ = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        out = {Q_VALUES: self.q_net(obs)}
        if C.NEXT_OBS in batch:
            next_obs, _ = _obs_and_mask(batch, C.NEXT_OBS, C.NEXT_ACTION_MASK)
            with torch.no_grad():
                out[NEXT_Q_VALUES] = self.q_net(next_obs)
        return out

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Q values of the online network (RLlib's QNetAPI)."""
        obs, _ = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        return {Q_VALUES: self.q_net(obs)}

    def make_target_networks(self) -> None:
        """Create the target Q network as a copy of the online one."""
        self._target_q_net = make_target_network(self.q_net)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """The (online, target) pairs the learner syncs."""
        return [(self.q_net, self._target_q_net)]

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Target-network Q values for the batch's observations."""
        obs, _ = _obs_and_mask(batch, C.OBS, C.ACTION_MASK)
        return {Q_VALUES: self._target_q_net(obs)}

    def get_non_inference_attributes(self) -> list[str]:
        """The target network is only needed by the learner."""
        return ["_target_q_net"]
