"""Score saved forecasters and the baselines on a series' test split; metrics.json and a plot."""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from marl_alloc.floor.settings.forecast import ForecastSettings
from marl_alloc.floor.strict_json import write_json
from marl_alloc.forecasting import peers
from marl_alloc.forecasting.baselines import moving_average, persistence, seasonal_naive
from marl_alloc.forecasting.metrics import error_metrics, mae_by_step, skill
from marl_alloc.forecasting.model import ForecastNet
from marl_alloc.forecasting.ridge import RidgeForecaster
from marl_alloc.forecasting.series import (
    DemandSeries,
    WindowBatches,
    scored_origins,
    training_origins,
)

MODELS = ("hybrid", "lstm_only", "mamba_only")
BASELINES = ("persistence", "moving_average", "seasonal_naive", "ridge")
# Every row's skill, 1 - MAE / MAE_reference, against these two baselines.
SKILL_REFERENCES = ("persistence", "seasonal_naive")


@torch.no_grad()
def predict(net: ForecastNet, data: WindowBatches, batch_size: int) -> np.ndarray:
    """Forecasts [n, horizon, M] in data units for every window of `data`."""
    net.eval()
    chunks = [net(data.batch(index)[0]) for index in torch.arange(len(data)).split(batch_size)]
    return torch.cat(chunks).numpy()


def _baselines(
    series: DemandSeries, origins: np.ndarray, horizon: int, cfg: ForecastSettings
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    targets = series.targets
    forecasts = {
        "persistence": persistence(targets, origins, horizon),
        "moving_average": moving_average(
            targets, origins, horizon, cfg.evaluate.moving_average_steps
        ),
    }
    season = round(cfg.data.seasons_s[0] / series.resolution_s)
    if origins[0] >= season >= horizon:
        forecasts["seasonal_naive"] = seasonal_naive(targets, origins, horizon, season)
        return forecasts, {}
    reason = f"the test split starts {origins[0]} steps in, within the first season ({season})"
    return forecasts, {"seasonal_naive": reason}


def _peers(
    series: DemandSeries, origins: np.ndarray, horizon: int, cfg: ForecastSettings
) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    # The configured peer libraries that are installed: forecasts, descriptions, and a note for
    # each one skipped.
    forecasts, about, skipped = {}, {}, {}
    nhits = cfg.evaluate.nhits
    val_rows = int(origins[0] * cfg.data.val_fraction)
    for library in cfg.evaluate.peers:
        reason = peers.missing_reason(library)
        no_window = peers.neural_input_steps(int(origins[0]), val_rows, horizon, nhits) < 1
        if reason is None and library == peers.NEURAL_LIBRARY and no_window:
            reason = f"{origins[0]} rows before the test split leave no NHITS training window"
        if reason is not None:
            skipped[library] = reason
            continue
        if library == peers.STATS_LIBRARY:
            name, forecast, text = peers.statistical_peer(
                series, origins, horizon, cfg.data.seasons_s
            )
        else:
            name, forecast, text = peers.neural_peer(
                series, origins, horizon, val_rows, nhits, cfg.seed
            )
        forecasts[name], about[name] = forecast, text
    return forecasts, about, skipped


def _plot(truth: np.ndarray, forecasts: dict[str, np.ndarray], metrics: dict, out: Path, info):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    group, groups, steps, resolution_min, title = info
    horizon = truth.shape[1]
    # Each plotted point is the forecast made `lead` steps before it, for one group and target.
    per_group = {name: f[group::groups, :, 0] for name, f in forecasts.items()}
    observed = truth[group::groups, 0, 0][:steps]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
    time_h = np.arange(len(observed)) * resolution_min / 60
    ax.plot(time_h, observed, color="black", lw=1.0, label="truth")
    lead = horizon - 1
    shown = per_group["hybrid"][: max(len(observed) - lead, 0), lead]
    ax.plot(time_h[lead : lead + len(shown)], shown, lw=1.2, label=f"hybrid, {horizon} steps ahead")
    shown = per_group["persistence"][: max(len(observed) - lead, 0), lead]
    ax.plot(time_h[lead : lead + len(shown)], shown, lw=0.8, alpha=0.6, label="persistence")
    ax.set_xlabel("hours into the test split")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    for name in metrics["mae_by_step"]:
        bx.plot(np.arange(1, horizon + 1), metrics["mae_by_step"][name], marker=".", label=name)
    bx.set_xlabel("forecast step")
    bx.set_ylabel("MAE")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def evaluate_models(
    nets: dict[str, ForecastNet],
    series: DemandSeries,
    cfg: ForecastSettings,
    out_dir: str | Path,
) -> dict[str, Any]:
    """Score every net and baseline on the last `data.test_fraction` of the series; write
    OUT/metrics.json and OUT/forecast.png; return the metrics."""
    window, horizon = cfg.data.window, cfg.data.horizon
    origins = scored_origins(series, window, horizon, cfg.data.test_fraction)
    data = WindowBatches(series, origins, window, horizon)
    truth = data.batch(torch.arange(len(data)))[1].numpy()
    forecasts = {
        name: predict(net, data, cfg.evaluate.eval_batch_size) for name, net in nets.items()
    }
    baselines, skipped = _baselines(series, origins, horizon, cfg)
    forecasts |= baselines
    # The linear reference is fitted on the nets' training and validation windows.
    fit_origins = training_origins(
        series, window, horizon, cfg.data.train_fraction, cfg.data.val_fraction
    )
    ridge = RidgeForecaster(series, window, horizon).fit(*fit_origins)
    forecasts["ridge"] = ridge.predict(origins)
    peer_forecasts, peer_about, peer_skipped = _peers(series, origins, horizon, cfg)
    forecasts |= peer_forecasts
    metrics: dict[str, Any] = {name: None for name in MODELS + BASELINES}
    metrics |= {name: error_metrics(f, truth) for name, f in forecasts.items()}
    for row in (metrics[name] for name in forecasts):
        for reference in SKILL_REFERENCES:
            base = metrics[reference]
            row[f"skill_vs_{reference}"] = None if base is None else skill(row["mae"], base["mae"])
    alternatives = {n: m["mae"] for n, m in metrics.items() if m is not None and n != "hybrid"}
    best_name = min(alternatives, key=alternatives.get)
    hybrid_mae = metrics["hybrid"]["mae"]
    metrics |= {
        "rows": list(forecasts),
        "horizon": horizon,
        "resolution_s": series.resolution_s,
        "series": series.name,
        "targets": list(series.target_names),
        "groups": list(series.group_names),
        "test_fraction": cfg.data.test_fraction,
        "test_origins": len(origins),
        "test_windows": len(data),
        "skipped": skipped | peer_skipped,
        "peers": peer_about,
        "ridge_penalty": ridge.penalty,
        "ridge_val_mae": ridge.val_mae,
        "best_alternative": best_name,
        "hybrid_skill_vs_best_alternative": skill(hybrid_mae, alternatives[best_name]),
        "mae_by_step": {name: mae_by_step(f, truth) for name, f in forecasts.items()},
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    groups = len(series.group_names)
    info = (
        groups - 1,
        groups,
        cfg.evaluate.plot_steps,
        series.resolution_s / 60,
        f"{series.name}: {series.group_names[-1]} {series.target_names[0]}",
    )
    _plot(truth, forecasts, metrics, out / "forecast.png", info)
    return metrics
