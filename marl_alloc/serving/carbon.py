"""Grid carbon intensity on the wall clock, from the same series the simulator uses.

The simulator reads intensity at simulated time t (seconds; t mod 86400 is its time of day).
The extender reads it at t = Unix time + utc_offset_s, so the series' hours line up with the
local day, and the series repeats past its end as in the simulator.
"""

from collections.abc import Mapping
from typing import Any

from envs import EnvConfig
from envs.carbon import CarbonSeries
from marl_alloc.serving.config import CarbonConfig


class GridIntensity:
    """g CO2e/kWh now, and the value the policy observes (intensity / the series' mean)."""

    def __init__(self, series: CarbonSeries, utc_offset_s: float = 0.0):
        self.series = series
        self.utc_offset_s = float(utc_offset_s)

    @classmethod
    def from_settings(cls, env_carbon: Mapping[str, Any], config: CarbonConfig) -> "GridIntensity":
        """The env's carbon series (config.series overrides keys), seeded with config.seed."""
        carbon = EnvConfig.from_mapping({"carbon": {**dict(env_carbon), **config.series}}).carbon
        return cls(CarbonSeries.from_config(carbon, abs(int(config.seed))), config.utc_offset_s)

    def sim_time(self, unix_s: float) -> float:
        """The simulator time matching a wall-clock instant."""
        return float(unix_s) + self.utc_offset_s

    def g_per_kwh(self, unix_s: float) -> float:
        """Intensity at a wall-clock instant."""
        return float(self.series.at(self.sim_time(unix_s)))

    def normalized(self, unix_s: float) -> float:
        """The carbon feature of the observations."""
        return self.g_per_kwh(unix_s) / self.series.mean
