"""Grid carbon intensity over simulated time, in g CO2e per kWh.

The default is a seeded diurnal series (lowest around 13:00, when solar peaks) with hourly noise;
`carbon.kind: csv` reads a real series (timestamp, intensity), e.g. WattTime's CAISO export, whose
unit `carbon.unit` names. Both repeat when simulated time runs past their end.

With `carbon.forecast` set, the observations also carry the outlook of a deferral: the intensity
forecast for when a deferred task would come back (causal: from the series up to now; oracle:
the true value, an ablation), so a carbon-aware deferral can act on the coming hours, not only
the current one.
"""

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from envs.errors import WorkloadError
from marl_alloc.floor.csv_numbers import LINE_OF_ROW, checked_numbers
from marl_alloc.floor.errors import first_line
from marl_alloc.floor.paths import resolve_path
from marl_alloc.floor.settings.env import CarbonConfig

# Multiply a value in this unit by the factor to get g CO2e per kWh.
UNIT_TO_G_PER_KWH = {"g_per_kwh": 1.0, "kg_per_mwh": 1.0, "lbs_per_mwh": 0.45359237}
DAY_S = 86400.0
# The regridded series may hold at most this many steps per row read (gaps are interpolated; a
# timestamp years off would otherwise ask for a grid of billions of steps).
MAX_GRID_PER_ROW = 16


class CarbonSeries:
    """Intensity values on a regular time grid starting at t = 0 s, repeated cyclically."""

    def __init__(self, g_per_kwh: np.ndarray, step_s: float):
        self.g_per_kwh = np.asarray(g_per_kwh, np.float64)
        self.step_s = float(step_s)
        self.mean = float(self.g_per_kwh.mean())

    @classmethod
    def from_config(cls, config: CarbonConfig, seed: int) -> "CarbonSeries":
        """The series the config describes; a diurnal one depends on `seed`."""
        if config.kind == "csv":
            return read_carbon_csv(config)
        return diurnal_series(config, np.random.default_rng(seed))

    def at_one(self, t: float) -> float:
        """`at` of one time."""
        return float(self.g_per_kwh[int(t // self.step_s) % len(self.g_per_kwh)])

    def at(self, t: np.ndarray) -> np.ndarray:
        """Intensity (g/kWh) at times `t` (seconds)."""
        index = (np.asarray(t) // self.step_s).astype(np.int64) % len(self.g_per_kwh)
        return self.g_per_kwh[index]

    def causal_forecast(self, t: np.ndarray, ahead_s: float, days: int) -> np.ndarray:
        """Intensity forecast for t + ahead_s from the series up to t: now's value plus the mean
        change over the same hours on the last `days` days (persistence with a daily seasonal
        difference: the grid's solar ramp repeats daily). Horizons beyond a day are a day."""
        ahead_s = min(float(ahead_s), DAY_S)
        t = np.asarray(t, np.float64)
        before = t[..., None] - DAY_S * np.arange(1, days + 1)
        change = (self.at(before + ahead_s) - self.at(before)).mean(-1)
        return np.maximum(self.at(t) + change, 0.0)


# Observation features of the carbon outlook: the intensity when a deferred task comes back,
# and the lowest over every return within max_defers, each over the series' mean.
OUTLOOK_FEATURES = 2


def outlook_features(config: CarbonConfig) -> int:
    """How many carbon outlook features the observations carry (0 when env.carbon.forecast is
    none: today's layout)."""
    return 0 if config.forecast == "none" else OUTLOOK_FEATURES


def deferral_outlook(
    series: CarbonSeries, config: CarbonConfig, now: np.ndarray, delay_s: float, returns: int
) -> np.ndarray:
    """[B, 2]: the intensity a deferral would meet at its return (now + delay_s) and the lowest
    over returns 1..`returns`, over the series' mean; forecast causally, or read from the
    future for the `oracle` ablation."""
    ahead = delay_s * np.arange(1, max(returns, 1) + 1)
    if config.forecast == "oracle":
        values = np.stack([series.at(now + a) for a in ahead], axis=-1)
    else:
        days = config.forecast_days
        values = np.stack([series.causal_forecast(now, a, days) for a in ahead], axis=-1)
    values = values / series.mean
    return np.stack([values[:, 0], values.min(axis=-1)], axis=-1)


def diurnal_series(config: CarbonConfig, rng: np.random.Generator, days: int = 28) -> CarbonSeries:
    """Hourly intensity: mean * (1 + amplitude * cos(day phase)) with multiplicative noise."""
    hours = np.arange(days * 24, dtype=np.float64)
    shape = 1.0 + config.amplitude * np.cos(2 * np.pi * (hours % 24 - 1.0) / 24.0)
    noise = 1.0 + config.hourly_noise * rng.standard_normal(len(hours))
    return CarbonSeries(np.maximum(config.mean_g_per_kwh * shape * noise, 0.0), 3600.0)


@functools.lru_cache(maxsize=4)
def read_carbon_csv(config: CarbonConfig) -> CarbonSeries:
    """First column timestamps (any header text), the `column` (or second) column values;
    cached per process (envs reset often). Values must be finite and >= 0 and timestamps
    increasing: a bad line is a one-line WorkloadError naming file, line and column."""
    if config.csv is None:
        raise WorkloadError("env.carbon.kind is 'csv' but env.carbon.csv names no file; set it")
    if config.unit not in UNIT_TO_G_PER_KWH:
        known = ", ".join(UNIT_TO_G_PER_KWH)
        raise WorkloadError(f"unknown env.carbon.unit '{config.unit}' (choose one of: {known})")
    path = resolve_path(config.csv)
    try:
        # Only an empty field is missing: "nan" is read as a number, and rejected as one.
        options = pacsv.ConvertOptions(null_values=[""], strings_can_be_null=True)
        table = pacsv.read_csv(path, convert_options=options)
    except (OSError, pa.ArrowException) as err:
        raise WorkloadError(f"cannot read carbon CSV {path}: {first_line(err)}") from None
    names = table.column_names
    column = config.column or (names[1] if len(names) > 1 else None)
    if column not in names:
        raise WorkloadError(f"carbon CSV {path} has no column {column!r} (columns: {names})")
    if names.count(column) > 1:
        raise WorkloadError(f"carbon CSV {path} has {names.count(column)} columns {column!r}")
    if table.num_rows < 2:
        raise WorkloadError(f"carbon CSV {path} needs at least 2 rows, has {table.num_rows}")
    seconds = _seconds(table.column(0), path, names[0])
    values = _intensities(table.column(column), path, column)
    step_s = float(np.median(np.diff(seconds)))
    steps = int((seconds[-1] - seconds[0]) // step_s) + 1
    if steps > MAX_GRID_PER_ROW * len(seconds):
        gap = int(np.argmax(np.diff(seconds))) + 1
        raise WorkloadError(
            f"carbon CSV {path}, line {gap + LINE_OF_ROW}: a gap of {np.diff(seconds).max():g} s"
            f" where rows are {step_s:g} s apart; fix its timestamp or split the file"
        )
    # Regrid onto the median step so lookups are one division.
    grid = seconds[0] + step_s * np.arange(steps)
    regridded = np.interp(grid, seconds, values)
    return CarbonSeries(regridded * UNIT_TO_G_PER_KWH[config.unit], step_s)


def _seconds(times: pa.ChunkedArray, path, name: str) -> np.ndarray:
    """Timestamps in seconds, present and strictly increasing."""
    try:
        seconds = pc.cast(pc.cast(times, pa.timestamp("s"), safe=False), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise WorkloadError(f"carbon CSV {path}: first column is not timestamps") from None
    missing = np.flatnonzero(~np.asarray(seconds.is_valid().to_numpy(zero_copy_only=False)))
    if len(missing):
        raise WorkloadError(
            f"carbon CSV {path}, line {missing[0] + LINE_OF_ROW}: empty timestamp in {name!r}"
        )
    seconds = seconds.to_numpy(zero_copy_only=False).astype(np.float64)
    backwards = np.flatnonzero(np.diff(seconds) <= 0)
    if len(backwards):
        row = backwards[0] + 1
        raise WorkloadError(
            f"carbon CSV {path}, line {row + LINE_OF_ROW}: timestamp not after the one above;"
            " timestamps must increase"
        )
    return seconds


def _intensities(values: pa.ChunkedArray, path, name: str) -> np.ndarray:
    """The column's values, each a finite number >= 0."""
    return checked_numbers(
        values,
        f"carbon CSV {path}",
        name,
        lambda v: np.isfinite(v) & (v >= 0),
        "a finite intensity >= 0",
        WorkloadError,
    )
