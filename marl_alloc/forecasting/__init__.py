"""Workload forecaster (issue #5): a BiLSTM + Mamba hybrid predicting next-k demand per group.

Standalone: `ForecastNet(NetConfig(...))(window) -> forecast`; in RLlib: `ForecasterRLModule`
(`forecaster_spec`, id `FORECASTER_ID`). Commands: `python -m marl_alloc.forecast train|evaluate`.
"""

from typing import Any

from marl_alloc.forecasting.evaluation import evaluate_models
from marl_alloc.forecasting.mamba_block import Mamba
from marl_alloc.forecasting.mamba_scan import selective_scan, selective_scan_reference
from marl_alloc.forecasting.model import ForecastNet, GatedFusion, NetConfig
from marl_alloc.forecasting.pipeline import build_net, train_all
from marl_alloc.forecasting.series import DemandSeries, WindowBatches, load_csv_series
from marl_alloc.forecasting.store import load_models, load_net, save_models
from marl_alloc.forecasting.synthetic import synthetic_series
from marl_alloc.forecasting.workloads import WorkloadSpec, build_series

__all__ = [
    "FORECAST",
    "FORECASTER_ID",
    "DemandSeries",
    "ForecastNet",
    "ForecasterRLModule",
    "GatedFusion",
    "Mamba",
    "NetConfig",
    "WindowBatches",
    "WorkloadSpec",
    "build_net",
    "build_series",
    "evaluate_models",
    "forecaster_spec",
    "load_csv_series",
    "load_models",
    "load_net",
    "module_from_net",
    "save_models",
    "selective_scan",
    "selective_scan_reference",
    "synthetic_series",
    "train_all",
]

# The RLlib wrapper imports Ray (seconds); the commands and the standalone net do not need it.
_RL_MODULE_NAMES = (
    "FORECAST",
    "FORECASTER_ID",
    "ForecasterRLModule",
    "forecaster_spec",
    "module_from_net",
)


def __getattr__(name: str) -> Any:
    if name in _RL_MODULE_NAMES:
        from marl_alloc.forecasting import rl_module

        return getattr(rl_module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
