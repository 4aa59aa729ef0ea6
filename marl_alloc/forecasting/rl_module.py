"""The forecaster as an RLlib RLModule, to sit in a MultiRLModule under id "forecaster"."""

from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule

from marl_alloc.floor import columns as C
from marl_alloc.forecasting.ensemble import Forecaster, build_forecaster, member_count
from marl_alloc.forecasting.model import NetConfig

FORECASTER_ID = "forecaster"
FORECAST = "forecast"


class ForecasterRLModule(TorchRLModule):
    """obs: raw feature windows [batch, window, F] -> {"forecast": [batch, horizon, M]}.

    `model_config` is a `NetConfig.to_dict()` plus `members` (1 for one net); the weights live
    in `self.net` (a ForecastNet or seed ensemble), so `module.net.load_state_dict(...)` takes a
    standalone model's state dict.
    """

    def setup(self) -> None:
        """Build the forecaster from `model_config`."""
        net_config = {k: v for k, v in self.model_config.items() if k != "members"}
        members = self.model_config.get("members", 1)
        self.net = build_forecaster(NetConfig.from_dict(net_config), members)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return {FORECAST: self.net(batch[C.OBS])}


def forecaster_spec(net_config: NetConfig, window: int, members: int = 1) -> RLModuleSpec:
    """RLModuleSpec of a ForecasterRLModule reading windows of `window` steps (averaging
    `members` nets)."""
    obs_space = gym.spaces.Box(-np.inf, np.inf, (window, net_config.num_features), np.float32)
    forecast_space = gym.spaces.Box(
        -np.inf, np.inf, (net_config.horizon, len(net_config.target_features)), np.float32
    )
    return RLModuleSpec(
        module_class=ForecasterRLModule,
        observation_space=obs_space,
        # A forecaster takes no action; its output space stands in so RLlib's checks pass.
        action_space=forecast_space,
        model_config={**net_config.to_dict(), "members": members},
    )


def module_from_net(net: Forecaster, window: int) -> ForecasterRLModule:
    """A ForecasterRLModule holding a copy of a trained standalone forecaster's weights."""
    module = forecaster_spec(net.cfg, window, member_count(net)).build()
    module.net.load_state_dict(net.state_dict())
    return module.eval()
