"""Established forecasters scored beside ours (extra `[peers]`): statsforecast's MSTL (AutoETS
when no season fits the training rows) and neuralforecast's NHITS.

Each peer is fitted once on the rows before the first scored origin, as our models are, and then
forecasts every scored origin from the history up to it with those parameters (the libraries'
`cross_validation` with `refit=False`). Every group and target is one univariate series.
"""

import importlib
import logging

import numpy as np

from marl_alloc.floor.settings.forecast import PEER_LIBRARIES, NhitsConfig
from marl_alloc.forecasting.series import DemandSeries

STATS_LIBRARY, NEURAL_LIBRARY = PEER_LIBRARIES


def missing_reason(library: str) -> str | None:
    """Why a peer library cannot run here (it does not import), or None when it can."""
    try:
        importlib.import_module(library)
    except ImportError:
        return f"{library} is not installed (pip install 'marl-alloc[peers]')"
    return None


def _long_frame(series: DemandSeries, end: int):
    # One row per (series, step) for rows [0, end): unique_id "<group>/<target>", integer ds.
    import pandas as pd

    targets = series.targets[:end]
    frames = [
        pd.DataFrame(
            {
                "unique_id": f"{group}/{target}",
                "ds": np.arange(end),
                "y": targets[:, g, m].astype(np.float64),
            }
        )
        for g, group in enumerate(series.group_names)
        for m, target in enumerate(series.target_names)
    ]
    return pd.concat(frames, ignore_index=True)


def _to_forecasts(cv, column: str, series: DemandSeries, origins: np.ndarray, horizon: int):
    # cross_validation rows (unique_id, ds, cutoff) -> [origins * groups, horizon, M],
    # origin-major like WindowBatches; the cutoff is the last observed row, origin - 1.
    groups, targets = len(series.group_names), len(series.target_names)
    out = np.full((len(origins), horizon, groups, targets), np.nan)
    ids = {f"{g}/{t}": (i, j) for i, g in enumerate(series.group_names)
           for j, t in enumerate(series.target_names)}  # fmt: skip
    origin = cv["cutoff"].to_numpy(np.int64) + 1
    step = cv["ds"].to_numpy(np.int64) - origin
    row = origin - origins[0]
    where = np.array([ids[u] for u in cv["unique_id"].astype(str)])
    out[row, step, where[:, 0], where[:, 1]] = cv[column].to_numpy(np.float64)
    if np.isnan(out).any():
        raise RuntimeError(f"{column} left {int(np.isnan(out).sum())} forecast entries empty")
    n = len(origins)
    return out.transpose(0, 2, 1, 3).reshape(n * groups, horizon, targets)


def _season_steps(series: DemandSeries, seasons_s: list[float], fit_rows: int, horizon: int):
    # The seasons our seasonal lags use: longer than the horizon, spanned twice by the fit rows.
    steps = [round(s / series.resolution_s) for s in seasons_s]
    return [s for s in steps if s > horizon and fit_rows >= 2 * s]


def statistical_peer(
    series: DemandSeries, origins: np.ndarray, horizon: int, seasons_s: list[float]
) -> tuple[str, np.ndarray, str]:
    """MSTL (seasons the fit rows span twice, AutoETS trend) or, with none, AutoETS: the row
    name, its forecasts [origins * groups, horizon, M] and a description."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    seasons = _season_steps(series, seasons_s, int(origins[0]), horizon)
    if seasons:
        model, name = MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN")), "mstl"
        about = f"statsforecast MSTL(season_length={seasons}, trend AutoETS ZZN)"
    else:
        model, name = AutoETS(model="ZZN"), "autoets"
        about = "statsforecast AutoETS(model=ZZN): no season fits the rows before the test split"
    frame = _long_frame(series, int(origins[-1]) + horizon)
    cv = StatsForecast(models=[model], freq=1).cross_validation(
        h=horizon, df=frame, n_windows=len(origins), step_size=1, refit=False
    )
    return name, _to_forecasts(cv, model.alias, series, origins, horizon), about


def neural_input_steps(fit_rows: int, val_rows: int, horizon: int, settings: NhitsConfig) -> int:
    """NHITS's input window: `input_steps`, cut to what the training rows leave room for (short
    traces); below 1 the peer cannot train."""
    return min(int(settings.input_steps), fit_rows - val_rows - horizon)


def neural_peer(
    series: DemandSeries,
    origins: np.ndarray,
    horizon: int,
    val_rows: int,
    settings: NhitsConfig,
    seed: int,
) -> tuple[str, np.ndarray, str]:
    """NHITS trained on the rows before the first origin, its last `val_rows` rows for early
    stopping: the row name, its forecasts and a description."""
    for logger in ("lightning.pytorch", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    from neuralforecast import NeuralForecast
    from neuralforecast.models import NHITS

    input_size = neural_input_steps(int(origins[0]), val_rows, horizon, settings)
    model = NHITS(
        h=horizon,
        input_size=input_size,
        mlp_units=[[settings.mlp_units] * 2] * 3,
        max_steps=settings.max_steps,
        windows_batch_size=settings.windows_batch_size,
        val_check_steps=settings.val_check_steps,
        early_stop_patience_steps=settings.patience_checks,
        scaler_type="robust",
        random_seed=seed,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    frame = _long_frame(series, int(origins[-1]) + horizon)
    cv = NeuralForecast(models=[model], freq=1).cross_validation(
        df=frame, n_windows=len(origins), step_size=1, val_size=val_rows, refit=False
    )
    about = (
        f"neuralforecast NHITS(input_size={input_size}, mlp_units={settings.mlp_units}, "
        f"max_steps={settings.max_steps}, early stopping on the {val_rows} rows before the "
        "test split)"
    )
    return "nhits", _to_forecasts(cv, "NHITS", series, origins, horizon), about
