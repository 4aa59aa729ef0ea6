"""The learner bench's `--forecaster` part: the policy update with the forecaster off beside on
(same shard, the off learner sampling it without the forecaster's rows, as replay holds none when
the forecaster is off), the forecaster's own steps, and its error on held-out rows."""

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from marl_alloc.floor import columns as C
from marl_alloc.policy.forecaster import FORECAST_TARGETS, FORECASTER_ID, TARGET_FEATURES


class WithoutForecaster:
    """A replay shard seen without its forecaster rows."""

    def __init__(self, shard: Any):
        self.shard = shard

    def sample(self, batch_size: int) -> dict | None:
        """The shard's sample less the forecaster's module."""
        sampled = self.shard.sample(batch_size)
        if sampled:
            sampled.pop(FORECASTER_ID, None)
        return sampled

    def update_priorities(self, updates: dict) -> int:
        """Passed to the shard."""
        return self.shard.update_priorities(updates)


def held_out_rows(
    make_worker: Callable[[Callable[[dict], None]], Any], count: int
) -> dict[str, torch.Tensor]:
    """At least `count` forecaster rows (windows and targets) from rollouts of an env worker
    that `make_worker(sink)` builds on seeds the training shard did not see."""
    chunks: list[dict] = []

    def sink(sent: dict) -> None:
        if FORECASTER_ID in sent:
            chunks.append(sent[FORECASTER_ID])

    worker = make_worker(sink)
    while sum(len(chunk[FORECAST_TARGETS]) for chunk in chunks) < count:
        worker.collect(16)
    return {
        name: torch.from_numpy(np.concatenate([chunk[name] for chunk in chunks]))
        for name in (C.OBS, FORECAST_TARGETS)
    }


def forecast_mae(module: Any, rows: dict[str, torch.Tensor]) -> float:
    """The forecaster's mean absolute error on `rows`, in demand units (dropout off)."""
    net = module.unwrapped().net
    training = net.training
    net.eval()
    with torch.inference_mode():
        forecast = net(rows[C.OBS].to(next(net.parameters()).device)).cpu()
    net.train(training)
    return float((forecast - rows[FORECAST_TARGETS]).abs().mean())


def persistence_mae(rows: dict[str, torch.Tensor]) -> float:
    """The error of repeating each window's last target values: the floor a forecaster must
    beat to be worth its cost."""
    last = rows[C.OBS][:, -1:, list(TARGET_FEATURES)]
    return float((last - rows[FORECAST_TARGETS]).abs().mean())


def forecaster_figures(
    on: dict[str, Any], off: dict[str, Any], steps: dict[str, float], seconds: float
) -> dict[str, Any]:
    """The on path's figures split into the policy update's and the forecaster steps' share,
    beside the off path's: `on` and `off` as _Timed.figures gives them, `steps` the timed
    forecaster steps' counters, `seconds` the on path's timed wall time."""
    updates = on["updates"]
    policy_ms = on["cpu_ms_per_update"] - 1e3 * steps["cpu_s"] / updates
    return {
        "off": off,
        "policy_cpu_ms_per_update": policy_ms,
        "policy_cpu_ratio": policy_ms / off["cpu_ms_per_update"],
        "cpu_ms_per_update": on["cpu_ms_per_update"],
        "cpu_ratio": on["cpu_ms_per_update"] / off["cpu_ms_per_update"],
        "steps": steps["steps"],
        "step_cpu_ms": 1e3 * steps["cpu_s"] / steps["steps"] if steps["steps"] else None,
        "rows_trained": steps["rows"],
        "rows_per_s": steps["rows"] / seconds,
        "rows_per_update": steps["rows"] / updates,
    }
