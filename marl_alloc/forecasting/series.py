"""Demand series on a regular time grid, utilization CSVs, time splits and feature windows."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from marl_alloc.floor.csv_numbers import LINE_OF_ROW, checked_numbers
from marl_alloc.floor.errors import UserError, first_line

DAY_S = 86_400.0


@dataclass(frozen=True)
class DemandSeries:
    """Features per time step and group, `values` [T, G, F]; some features are the targets."""

    values: np.ndarray
    feature_names: tuple[str, ...]
    target_features: tuple[int, ...]
    group_names: tuple[str, ...]
    resolution_s: float
    name: str
    seasonal_lags: tuple[int, ...] = ()  # steps of the lagged target features, if any
    first_valid: int = 0  # rows before this lack a lagged feature: no window may read them

    @property
    def targets(self) -> np.ndarray:
        """The forecast targets [T, G, M]."""
        return self.values[..., list(self.target_features)]

    @property
    def feature_targets(self) -> tuple[int, ...]:
        """Per feature, the target (0..M-1) it holds, now or lagged; -1 for other features."""
        num_targets = len(self.target_features)
        base = self.values.shape[-1] - num_targets * len(self.seasonal_lags)
        own = {feature: m for m, feature in enumerate(self.target_features)}
        return tuple(
            own.get(i, -1) if i < base else (i - base) % num_targets
            for i in range(self.values.shape[-1])
        )

    @property
    def target_names(self) -> tuple[str, ...]:
        """Names of the M targets."""
        return tuple(self.feature_names[i] for i in self.target_features)


def time_of_day(timestamps_s: np.ndarray) -> np.ndarray:
    """[T, 2] sine and cosine of the daily phase (the diurnal cycle's position)."""
    phase = 2 * np.pi * (np.asarray(timestamps_s, dtype=np.float64) % DAY_S) / DAY_S
    return np.stack([np.sin(phase), np.cos(phase)], axis=-1).astype(np.float32)


def with_seasonal_lags(series: DemandSeries, lags: Sequence[int]) -> DemandSeries:
    """Append each target lagged by each of `lags` steps (a season less the horizon, so the
    window's last steps show the targets' values one season before the steps being forecast)."""
    blocks, names = [series.values], list(series.feature_names)
    for lag in lags:
        lagged = np.empty_like(series.targets)
        lagged[lag:] = series.targets[:-lag]
        lagged[:lag] = series.targets[:lag]  # placeholders, never read (first_valid)
        blocks.append(lagged)
        names += [f"{n}_lag{lag}" for n in series.target_names]
    return replace(
        series,
        values=np.concatenate(blocks, axis=-1),
        feature_names=tuple(names),
        seasonal_lags=series.seasonal_lags + tuple(lags),
        first_valid=max([series.first_valid, *lags]),
    )


def load_csv_series(path: str | Path, column: str, resolution_s: float) -> DemandSeries:
    """One metric of a utilization CSV; its `timestamp` column (seconds), when present, sets the
    resolution, else rows are `resolution_s` apart. A value that is not a finite number, or a
    timestamp not after the one above, is a one-line UserError naming file, line and column."""
    import pyarrow.csv as pa_csv

    path = Path(path)
    if not path.is_file():
        raise UserError(f"series file {path} does not exist (pass --series FILE)")
    try:
        # Only an empty field is missing: "nan" is read as a number, and rejected as one.
        options = pa_csv.ConvertOptions(null_values=[""], strings_can_be_null=True)
        table = pa_csv.read_csv(path, convert_options=options)
    except Exception as err:  # pyarrow raises several types for unreadable CSVs
        raise UserError(f"cannot read {path} as CSV: {first_line(err)}") from None
    if column not in table.column_names:
        # Escaped: a header is the file's text, and the error must stay one line.
        names = ", ".join(
            c.encode("unicode_escape").decode() for c in table.column_names if c != "timestamp"
        )
        raise UserError(f"column '{column}' is not in {path.name} (columns: {names}); fix --column")
    for name in (column, "timestamp"):
        if table.column_names.count(name) > 1:
            raise UserError(f"{path.name} has {table.column_names.count(name)} columns {name!r}")
    if table.num_rows == 0:
        raise UserError(f"{path.name} holds a header but no rows")
    values = _finite_column(table, column, path)
    if "timestamp" in table.column_names:
        timestamps = _finite_column(table, "timestamp", path)
        steps = np.diff(timestamps)
        backwards = np.flatnonzero(steps <= 0)
        if len(backwards):
            raise UserError(
                f"{path.name}, line {backwards[0] + 1 + LINE_OF_ROW}: timestamp not after the one"
                " above; timestamps must increase"
            )
        resolution_s = float(np.median(steps)) if len(steps) else resolution_s
    else:
        timestamps = np.arange(len(values)) * resolution_s
    features = np.concatenate([values[:, None].astype(np.float32), time_of_day(timestamps)], -1)
    return DemandSeries(
        values=features[:, None, :],
        feature_names=(column, "tod_sin", "tod_cos"),
        target_features=(0,),
        group_names=(column,),
        resolution_s=float(resolution_s),
        name=f"{path.name}:{column}",
    )


def _finite_column(table, name: str, path: Path) -> np.ndarray:
    """A CSV column as float64, every value a finite number (float32 range: the model's)."""
    return checked_numbers(
        table[name],
        path.name,
        name,
        lambda v: np.isfinite(v.astype(np.float32)),
        "a finite number",
        UserError,
    )


def training_origins(
    series: DemandSeries, window: int, horizon: int, train_fraction: float, val_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast origins (first forecast step) for training and validation: the first
    `train_fraction` of rows, its latest `val_fraction` kept for early stopping."""
    num_steps, first = len(series.values), series.first_valid + window
    train_end = int(num_steps * train_fraction)
    val_start = train_end - int(train_end * val_fraction)
    train = np.arange(first, val_start - horizon + 1)
    val = np.arange(max(val_start, first), train_end - horizon + 1)
    if len(train) == 0 or len(val) == 0:
        raise UserError(
            f"{train_fraction:g} of a series of {num_steps} steps leaves no training or validation "
            f"windows of {window + horizon} steps (window {window} + horizon {horizon}); "
            "use a longer series or a smaller window"
        )
    return train, val


def scored_origins(
    series: DemandSeries, window: int, horizon: int, test_fraction: float
) -> np.ndarray:
    """Origins scored by evaluate: the last `test_fraction` of rows, earlier rows as context."""
    num_steps = len(series.values)
    start = max(num_steps - int(num_steps * test_fraction), series.first_valid + window)
    origins = np.arange(start, num_steps - horizon + 1)
    if len(origins) == 0:
        raise UserError(
            f"the last {test_fraction:g} of a series of {num_steps} steps holds no {horizon}-step "
            f"forecast after a {window}-step window; use a longer series or larger --test-fraction"
        )
    return origins


class WindowBatches:
    """The (origin, group) pairs of some origins, gathered into window tensors a batch at a time."""

    def __init__(self, series: DemandSeries, origins: np.ndarray, window: int, horizon: int):
        self.values = torch.from_numpy(np.ascontiguousarray(series.values, dtype=np.float32))
        self.targets = torch.tensor(series.target_features)
        groups = series.values.shape[1]
        self.origins = torch.from_numpy(np.repeat(np.asarray(origins), groups))
        self.groups = torch.arange(groups).repeat(len(origins))
        self.past = torch.arange(-window, 0)
        self.future = torch.arange(horizon)

    def __len__(self) -> int:
        return len(self.origins)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs [b, window, F] and targets [b, horizon, M] of the pairs at `index`."""
        origins, groups = self.origins[index, None], self.groups[index, None]
        x = self.values[origins + self.past, groups]
        y = self.values[origins + self.future, groups][..., self.targets]
        return x, y
