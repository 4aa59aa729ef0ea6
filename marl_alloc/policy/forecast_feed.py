"""ForecastFeed: runs the policy's forecaster on an env's closed demand bins and sets the
forecast its agents observe; the same code in training (EnvWorker) and evaluation
(ForecastingPolicy), so a policy sees in evaluation what it saw in training.

Once bins have closed in `batch_share` of the envs (simulated time passed a bin edge; envs'
clocks are not aligned), one forward of the forecaster reads the latest window of each leaf
group of every env with a new bin (batched over envs x leaves), and the first
`env.forecast_horizon` steps of its CPU forecast go to `env.set_forecast`. For training it also
yields rows (window, next-`horizon` targets) once the targets' bins have closed.
"""

from typing import Any

import numpy as np
import torch

from envs import LevelObs, VectorDatacenterEnv
from envs.demand_history import DemandHistory
from marl_alloc.floor import columns as C
from marl_alloc.policy.forecaster import (
    CPU_TARGET,
    FORECAST_TARGETS,
    TARGET_FEATURES,
    DemandForecasterModule,
)


def window_inputs(
    history: DemandHistory, window: int, lags: tuple[int, ...], envs: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """Forecaster inputs [n, leaves, window, features] of the windows ending before `end`:
    the demand features, then each lag's target features (as forecast train builds them)."""
    blocks = [history.window(window, envs, end)]
    for lag in lags:
        blocks.append(history.window(window, envs, end - lag)[..., TARGET_FEATURES])
    return np.concatenate(blocks, axis=-1) if lags else blocks[0]


def leaf_forecasts(
    module: DemandForecasterModule,
    history: DemandHistory,
    envs: np.ndarray,
    end: np.ndarray,
    steps: int,
) -> np.ndarray:
    """float32[n, leaves, steps]: the first `steps` bins of `module`'s CPU demand forecast per
    leaf group from the windows ending before `end`, one forward for all of them: what the
    simulator's agents (ForecastFeed) and the extender's (marl_alloc.serving) observe."""
    inputs = window_inputs(history, module.window, module.seasonal_lags, envs, end)
    num_leaves = inputs.shape[1]
    with torch.inference_mode():
        forecast = module.net(torch.from_numpy(inputs.reshape(-1, *inputs.shape[2:])))
    return forecast[:, :steps, CPU_TARGET].numpy().reshape(len(envs), num_leaves, steps)


class ForecastFeed:
    """Feeds one env (re-attaching when handed another, or after its reset) from `module`."""

    def __init__(self, module: DemandForecasterModule, collect_rows: bool = False):
        self.module = module
        self.collect_rows = collect_rows
        self.window, self.lags = module.window, module.seasonal_lags
        self.batch_share = module.batch_share
        self.horizon = module.net.cfg.horizon
        self.env: VectorDatacenterEnv | None = None
        self.rows: list[dict[str, np.ndarray]] = []

    def attach(self, env: VectorDatacenterEnv) -> None:
        """Start recording `env`'s demand (if it does not yet at this resolution) and follow it."""
        keep = self.window + self.horizon + max(self.lags, default=0) + 1
        history = env.demand
        if (
            history is None
            or history.resolution_s != self.module.resolution_s
            or history.keep_bins < keep
        ):
            env.record_demand(self.module.resolution_s, keep)
        self.env = env
        self.seen = env.demand_bins_closed.copy()
        # Rows go out for origins (first forecast bin) after this one, which needs a bin before.
        self.emitted = np.maximum(self.seen - self.horizon, 0)

    def update(self, env: VectorDatacenterEnv) -> bool:
        """Forecast for the envs with newly closed bins; True if any forecast changed."""
        if env is not self.env or (env.demand_bins_closed < self.seen).any():
            self.attach(env)
        closed = env.demand_bins_closed
        fresh = np.flatnonzero(closed > self.seen)
        if fresh.size == 0:
            return False
        # Rows are taken as their bins close, not at forwards: the ring keeps only so many.
        if self.collect_rows:
            self._collect(env, closed)
        if fresh.size < self.batch_share * len(closed):
            return False
        self.seen = closed.copy()
        steps = env.config.forecast_horizon
        cpu = leaf_forecasts(self.module, env.demand, fresh, closed[fresh], steps)
        env.set_forecast(cpu, envs=fresh)
        return True

    def features(self, env: VectorDatacenterEnv, envs: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Forecaster inputs [n, leaves, window, features] of `env`'s windows ending before
        `end` (see `window_inputs`)."""
        return window_inputs(env.demand, self.window, self.lags, envs, end)

    def _collect(self, env: VectorDatacenterEnv, closed: np.ndarray) -> None:
        # Origin o (the first forecast bin) is known once bins o .. o + horizon - 1 have closed.
        last = closed - self.horizon
        counts = np.maximum(last - self.emitted, 0)
        if counts.sum() == 0:
            return
        envs = np.repeat(np.arange(len(closed)), counts)
        origins = np.concatenate(
            [np.arange(e + 1, e + n + 1) for e, n in zip(self.emitted, counts, strict=True)]
        )
        self.emitted = np.maximum(self.emitted, last)
        inputs = self.features(env, envs, origins)
        targets = env.demand_window(self.horizon, envs, origins + self.horizon)
        targets = targets[..., TARGET_FEATURES]
        self.rows.append(
            {
                C.OBS: inputs.reshape(-1, *inputs.shape[2:]),
                FORECAST_TARGETS: targets.reshape(-1, *targets.shape[2:]),
            }
        )

    def take_rows(self) -> dict[str, np.ndarray] | None:
        """The training rows gathered since the last call, with uniform replay priorities
        (td_abs and attention 0), or None."""
        if not self.rows:
            return None
        rows = {k: np.concatenate([r[k] for r in self.rows]) for k in self.rows[0]}
        self.rows = []
        zeros = np.zeros(len(rows[C.OBS]), np.float32)
        return {**rows, C.TD_ABS: zeros, C.ATTENTION: zeros.copy()}


class ForecastingPolicy:
    """A policy whose agents observe the forecaster's forecast, updated before each cycle."""

    def __init__(self, policy: Any, forecaster: DemandForecasterModule):
        self.policy = policy
        self.feed = ForecastFeed(forecaster)

    def act(self, env: VectorDatacenterEnv, level_obs: LevelObs) -> np.ndarray:
        """Refresh the forecast at a cycle's first decision, then act as the wrapped policy."""
        if level_obs.level == env.LEVELS[0] and self.feed.update(env):
            level_obs = env.observe()
        return self.policy.act(env, level_obs)
