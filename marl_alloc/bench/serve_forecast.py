"""The serve bench's untrained policies (the same level networks with and without the
forecaster: `--forecaster both` measures both), and what the forecaster costs an extender
replica per demand bin.

In-process, over the bench's nodes of each size (NodeNames calls, as on the watch path): a
replica's forecast tick with simulated time, one bin at a time (`tick_ms`: the demand bins
brought up to date, a bin closed and the forward; `forward_ms` the forward alone, over every
leaf group of the cluster), and the first decision after a forward, which lays the new forecast
onto the call's rows (`first_call_ms`), against the calls after it (`steady_call_ms`).
"""

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.bench.serve_client import percentiles_ms
from marl_alloc.bench.serve_cluster import bench_args, names_body

FORECASTER_OVERRIDES = ["model.forecaster.enabled=true"]
BINS = 12


def untrained_checkpoints(root: Path, seed: int) -> tuple[Path, Path]:
    """(without, with its forecaster): checkpoints of the default config's policy, freshly
    initialized from `seed`, whose level networks are the same: only the forecaster differs."""
    import torch

    from marl_alloc.apex.builder import policy_spec
    from marl_alloc.floor.checksums import write_manifest
    from marl_alloc.floor.settings import CONFIG_FILE
    from marl_alloc.floor.settings.compose import compose_settings
    from marl_alloc.policy.checkpoint import MODULE_PATH
    from marl_alloc.policy.forecaster import FORECASTER_ID

    settings = compose_settings(FORECASTER_OVERRIDES)
    torch.manual_seed(seed)
    module = policy_spec(settings).build()
    plain, with_forecaster = root / "checkpoint", root / "with-forecaster"

    def save(path: Path) -> None:
        module.save_to_path(str(path / MODULE_PATH))
        settings.save(path / CONFIG_FILE)
        write_manifest(path)

    save(with_forecaster)
    module.remove_module(FORECASTER_ID)
    settings.model.forecaster.enabled = False
    save(plain)
    return plain, with_forecaster


class _Clock:
    def __init__(self, now_s: float):
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def forecast_cost(
    checkpoint: str, overrides: list[str], num_nodes: int, seed: int, start_s: float
) -> dict[str, Any]:
    """The forecaster's cost per bin in one replica over `num_nodes` bench nodes."""
    from marl_alloc.serving.policy import LevelQPolicy
    from marl_alloc.serving.service import ExtenderService
    from marl_alloc.serving.settings import serve_settings

    # The replica's clock is the simulated one here: unpin it.
    config, env_settings = serve_settings(checkpoint, [*overrides, "serve.clock_s=null"])
    policy, _ = LevelQPolicy.from_checkpoint(checkpoint)
    clock = _Clock(start_s)
    service = ExtenderService(config, env_settings, policy, clock=clock)
    forecasts = service.forecasts
    doc = bench_args(num_nodes, seed)
    listed = []
    for node in doc["Nodes"]["items"]:
        meta = node["metadata"]
        listed.append((meta["name"], meta["resourceVersion"], json.dumps(node).encode()))
    service.nodes.replace(listed)
    body = names_body(doc)  # NodeNames, as on the watch path: calls lay out the cached table
    forecasts.tick()
    service.handle("prioritize", body)  # warm: the node cache and layouts
    resolution_s = forecasts.demand.resolution_s
    ticks, forwards, first, steady = [], [], [], []
    for _ in range(BINS):
        clock.now_s += resolution_s
        started = time.perf_counter()
        ran = forecasts.tick()
        ticks.append(time.perf_counter() - started)
        assert ran, "a bin closed without a forward"
        forwards.append(forecasts.last_forward_s)
        for calls in (first, steady, steady):
            started = time.perf_counter()
            status, _ = service.handle("prioritize", body)
            calls.append(time.perf_counter() - started)
            assert status == 200
    top = forecasts.demand.layout.tiling.topology
    return {
        "nodes": num_nodes,
        "leaf_groups": top.num_leaves,
        "window": forecasts.module.window,
        "resolution_s": resolution_s,
        "bins": BINS,
        "tick_ms": percentiles_ms(ticks),
        "forward_ms": percentiles_ms(forwards),
        "first_call_ms": percentiles_ms(first),
        "steady_call_ms": percentiles_ms(steady),
        "forecast_nonzero": bool(np.abs(forecasts.current.per_leaf).max() > 0),
    }
