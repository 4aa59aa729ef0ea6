"""The policy's workload forecaster: module `forecaster` of the MultiRLModule (trained by the
learner with an L1 loss, never acting) and the spec built from `model.forecaster`.

It reads windows of the env's per-leaf-group demand history (envs/demand_history.py, the
features of marl_alloc/forecasting/demand.py) and predicts the next `horizon` bins of CPU and
memory demand; `marl_alloc.policy.forecast_feed` runs it for actors and evaluation.
"""

from pathlib import Path
from typing import Any

import torch
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from envs.demand_history import FEATURES
from marl_alloc.floor import columns as C
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import ForecasterConfig, ForecastSettings, from_mapping
from marl_alloc.forecasting.ensemble import Forecaster, build_forecaster, member_count
from marl_alloc.forecasting.model import NetConfig
from marl_alloc.forecasting.rl_module import FORECASTER_ID, ForecasterRLModule, forecaster_spec
from marl_alloc.forecasting.store import load_models

# Targets: CPU and memory demand (FEATURES 0 and 1); the forecast slots get the CPU one.
TARGET_FEATURES = (0, 1)
CPU_TARGET = 0
# Replay column of a forecaster row: the next `horizon` bins' targets [horizon, 2].
FORECAST_TARGETS = "forecast_targets"
FORECAST_NORMALIZED = "forecast_normalized"
# model_config keys that say how the env's history is binned and how the feed batches its
# forwards, beside the NetConfig's.
FEED_KEYS = ("resolution_s", "seasonal_lags", "batch_share")
INIT_MODEL = "hybrid"

__all__ = ["FORECASTER_ID", "DemandForecasterModule", "forecaster_module_spec", "load_init"]


class DemandForecasterModule(ForecasterRLModule):
    """A ForecasterRLModule that also records its inputs' binning (`resolution_s`, the seasonal
    lags) in its model_config, so a checkpoint alone says how to feed it."""

    def setup(self) -> None:
        """Build the forecaster from the NetConfig part of `model_config`."""
        skip = ("members", *FEED_KEYS)
        net_config = {k: v for k, v in self.model_config.items() if k not in skip}
        self.net: Forecaster = build_forecaster(
            NetConfig.from_dict(net_config), self.model_config.get("members", 1)
        )

    @property
    def window(self) -> int:
        """Input steps per window."""
        return int(self.observation_space.shape[0])

    @property
    def resolution_s(self) -> float:
        """Seconds per demand bin."""
        return float(self.model_config["resolution_s"])

    @property
    def batch_share(self) -> float:
        """Share of envs with a new bin that triggers a forward (0 in checkpoints from before
        the feed batched: each env as soon as its bin closes)."""
        return float(self.model_config.get("batch_share", 0.0))

    @property
    def seasonal_lags(self) -> tuple[int, ...]:
        """Bins by which the lagged target features trail each step."""
        return tuple(int(lag) for lag in self.model_config["seasonal_lags"])

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        # The loss is taken in normalized units, as forecast train takes it.
        return {FORECAST_NORMALIZED: self.net.forward_normalized(batch[C.OBS])}


def load_init(init_dir: str | Path) -> tuple[Forecaster, dict[str, Any]]:
    """The hybrid model of a `forecast train` output dir and its meta; a one-line UserError if
    the dir holds none or it does not read the env's demand features."""
    nets, meta = load_models(init_dir)
    if INIT_MODEL not in nets:
        raise UserError(f"{init_dir} holds no '{INIT_MODEL}' forecaster (models: {list(nets)})")
    names = tuple(meta["feature_names"][: len(FEATURES)])
    if names != FEATURES or tuple(nets[INIT_MODEL].cfg.target_features) != TARGET_FEATURES:
        raise UserError(
            f"the forecaster in {init_dir} reads {meta['feature_names']}, not the env's demand "
            f"features {list(FEATURES)}; train it on a task workload (synthetic or google2011)"
        )
    return nets[INIT_MODEL], meta


def check_sizes(init_dir: str | Path, sizes: tuple[int, int], expected: tuple[int, int]) -> None:
    """A one-line UserError unless the init dir's forecaster's (window, horizon) `sizes` are the
    `expected` ones (what `model.forecaster` says the policy holds)."""
    if sizes != expected:
        raise UserError(
            f"the forecaster in {init_dir} reads {sizes[0]} steps and forecasts {sizes[1]}, but "
            f"the policy expects model.forecaster.window={expected[0]} and "
            f"model.forecaster.horizon={expected[1]}; set them to {sizes[0]} and {sizes[1]} "
            "or pass a forecaster trained with those sizes"
        )


def _init_window(meta: dict[str, Any]) -> int:
    return from_mapping(ForecastSettings, meta["config"]).data.window


def forecaster_module_spec(forecaster: ForecasterConfig, forecast_horizon: int) -> RLModuleSpec:
    """The `forecaster` module's spec from `model.forecaster`: the init dir's network,
    resolution and lags when `init` is set (its window and horizon must be the configured
    ones), else the configured ones (sizes in `net`)."""
    if forecaster.init:
        net, meta = load_init(forecaster.init)
        net_config, members = net.cfg, member_count(net)
        window = _init_window(meta)
        check_sizes(
            forecaster.init,
            (window, net_config.horizon),
            (forecaster.window, forecaster.horizon),
        )
        feed = {"resolution_s": float(meta["resolution_s"]), "seasonal_lags": meta["seasonal_lags"]}
    else:
        net_config = NetConfig(
            num_features=len(FEATURES),
            target_features=TARGET_FEATURES,
            horizon=forecaster.horizon,
            pathways=tuple(forecaster.net.pathways),
            feature_targets=tuple(
                TARGET_FEATURES.index(i) if i in TARGET_FEATURES else -1
                for i in range(len(FEATURES))
            ),
            **forecaster.net.sizes(),
        )
        members, window = 1, forecaster.window
        feed = {"resolution_s": forecaster.resolution_s, "seasonal_lags": []}
    if net_config.horizon < forecast_horizon:
        raise UserError(
            f"the forecaster predicts {net_config.horizon} steps, fewer than the observation's "
            f"env.forecast_horizon={forecast_horizon}"
        )
    feed["batch_share"] = forecaster.batch_share
    spec = forecaster_spec(net_config, window, members)
    spec.module_class = DemandForecasterModule
    spec.model_config = {**spec.model_config, **feed}
    return spec


def warm_start(module: DemandForecasterModule, init_dir: str | Path) -> None:
    """Copy the init dir's weights and normalization into `module`; a one-line UserError when
    the dir's window, horizon or network differ from the module's."""
    net, meta = load_init(init_dir)
    check_sizes(
        init_dir, (_init_window(meta), net.cfg.horizon), (module.window, module.net.cfg.horizon)
    )
    theirs, ours = net.cfg.to_dict(), module.net.cfg.to_dict()
    differ = [key for key in ours if theirs[key] != ours[key]]
    if member_count(net) != member_count(module.net):
        differ.append("ensemble members")
    if differ:
        raise UserError(
            f"the forecaster in {init_dir} differs from the policy's forecaster module in "
            f"{', '.join(differ)}; start from a forecast train dir with the module's sizes"
        )
    with torch.no_grad():
        module.net.load_state_dict(net.state_dict())
