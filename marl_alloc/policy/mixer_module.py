"""MixerModule: the team-value mixer as an RLlib RLModule, so it is checkpointed with the policy.

It sits in the policy's MultiRLModule beside the level modules (module id `team`) but never acts:
agents act greedily on their own level's Q values, which a monotonic mixer makes consistent with
the team's greedy action. The learner mixes the level modules' Q values through it.
"""

from typing import Any

import torch
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from marl_alloc.floor import columns as C
from marl_alloc.policy.mixer import build_mixer

AGENT_Q = "agent_q"
LEVEL_OBS = "level_obs"
Q_TOT = "q_tot"


class MixerModule(TorchRLModule, TargetNetworkAPI):
    """Mixes per-level Q values into Q_tot (VDN or QMIX) with a target copy for the learner."""

    def setup(self) -> None:
        """Build the mixer from `model_config`: `kind` (vdn|qmix), `num_agents`,
        `hypernet_hidden`, `normalize`; the state is the observation space (the levels'
        observations)."""
        cfg = self.model_config
        self.mixer = build_mixer(
            str(cfg["kind"]),
            state_dim=int(self.observation_space.shape[0]),
            num_agents=int(cfg["num_agents"]),
            hypernet_hidden=int(cfg.get("hypernet_hidden", 64)),
            normalize=bool(cfg.get("normalize", False)),
        )

    def mix(
        self,
        agent_q: torch.Tensor,
        level_obs: list[torch.Tensor],
        active: torch.Tensor,
        target: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q_tot [B], contributions [B, N]) of agent_q [B, N]; `active` [B, N] is 0 for a level
        that sat out, whose (stale) observation is then left out of the state."""
        state = torch.cat([obs * active[:, i : i + 1] for i, obs in enumerate(level_obs)], -1)
        mixer = self._target_mixer if target else self.mixer
        return mixer(agent_q, state, active)

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        # The team loss needs the level modules' Q values too, so the learner computes it.
        return {}

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        raise NotImplementedError("the mixer does not act; act with the level modules")

    def _forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        raise NotImplementedError("the mixer does not act; act with the level modules")

    def make_target_networks(self) -> None:
        """Create the target mixer as a copy of the online one."""
        self._target_mixer = make_target_network(self.mixer)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """The (online, target) pair the learner syncs."""
        return [(self.mixer, self._target_mixer)]

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Target Q_tot of `batch` = {AGENT_Q, LEVEL_OBS, ACTIVE} (RLlib's TargetNetworkAPI)."""
        q_tot, _ = self.mix(batch[AGENT_Q], batch[LEVEL_OBS], batch[C.ACTIVE], target=True)
        return {Q_TOT: q_tot}

    def get_non_inference_attributes(self) -> list[str]:
        """The target mixer is only needed by the learner."""
        return ["_target_mixer"]
