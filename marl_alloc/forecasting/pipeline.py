"""Train the hybrid and its ablations on a workload's training split and save them together."""

import time
from pathlib import Path
from typing import Any

import torch

from marl_alloc.floor.settings import to_plain
from marl_alloc.floor.settings.forecast import ABLATIONS, ForecastSettings
from marl_alloc.forecasting.ensemble import ForecastEnsemble
from marl_alloc.forecasting.model import ForecastNet, NetConfig
from marl_alloc.forecasting.series import DemandSeries, WindowBatches, training_origins
from marl_alloc.forecasting.store import save_models
from marl_alloc.forecasting.trainer import mean_abs_error, mean_loss, normalization_stats, train
from marl_alloc.forecasting.workloads import WorkloadSpec, build_series


def build_net(
    cfg: ForecastSettings, series: DemandSeries, pathways: tuple[str, ...]
) -> ForecastNet:
    """A fresh net for the series' features with the config's sizes and these pathways."""
    net_cfg = NetConfig(
        num_features=series.values.shape[-1],
        target_features=series.target_features,
        horizon=cfg.data.horizon,
        pathways=tuple(pathways),
        feature_targets=series.feature_targets,
        **cfg.model.sizes(),
    )
    return ForecastNet(net_cfg)


def train_all(
    spec: WorkloadSpec, cfg: ForecastSettings, out_dir: str | Path, progress: bool = True
) -> dict[str, Any]:
    """Train the hybrid and each configured ablation with the same data, seeds and schedule
    (`train.ensemble` members each); save them to `out_dir`; return the saved meta."""
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    data = cfg.data
    series = build_series(spec, cfg)
    train_origins, val_origins = training_origins(
        series, data.window, data.horizon, data.train_fraction, data.val_fraction
    )
    train_data = WindowBatches(series, train_origins, data.window, data.horizon)
    val_data = WindowBatches(series, val_origins, data.window, data.horizon)
    mean, std = normalization_stats(series, int(train_origins[-1]) + data.horizon)
    variants = {"hybrid": tuple(cfg.model.pathways)}
    variants |= {name: ABLATIONS[name] for name in cfg.train.ablations}
    nets, results = {}, {}
    for name, pathways in variants.items():
        members, runs = [], []
        # Every model gets the same seeds: member i of each starts from seed + i.
        for member in range(cfg.train.ensemble):
            seed = cfg.seed + member
            torch.manual_seed(seed)
            net = build_net(cfg, series, pathways)
            net.set_normalization(mean, std)
            label = name if cfg.train.ensemble == 1 else f"{name}[{member}]"
            result = train(net, train_data, val_data, cfg.train, seed, label, progress)
            members.append(net)
            runs.append(result)
        nets[name] = members[0] if len(members) == 1 else ForecastEnsemble(members).eval()
        results[name] = {
            "best_val_loss": mean_loss(nets[name], val_data, 512),
            "val_mae": mean_abs_error(nets[name], val_data, 512),
            "best_epochs": [run.best_epoch for run in runs],
            "epochs": [run.epochs for run in runs],
            "train_seconds": round(sum(run.seconds for run in runs), 1),
            "parameters": sum(p.numel() for p in nets[name].parameters()),
            "members": [
                {"best_val_loss": run.best_val_loss, "history": run.history} for run in runs
            ],
        }
    meta = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "config": to_plain(cfg),
        "workload": spec.to_dict(),
        "series": series.name,
        "resolution_s": series.resolution_s,
        "feature_names": list(series.feature_names),
        "target_names": list(series.target_names),
        "group_names": list(series.group_names),
        "seasonal_lags": list(series.seasonal_lags),
        "train_windows": len(train_data),
        "val_windows": len(val_data),
        "training": results,
    }
    save_models(out_dir, nets, meta)
    return meta
