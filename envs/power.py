"""Host power models: watts as a function of CPU utilization, as CloudSim's PowerModel classes."""

import numpy as np

from envs.errors import EnvConfigError
from marl_alloc.floor.settings.env import HostConfig

# CloudSim's PowerModelSpecPowerHpProLiantMl110G4Xeon3040 / G5Xeon3075: watts at 0%, 10%, .. 100%.
SPECPOWER_TABLES: dict[str, tuple[float, ...]] = {
    "ml110_g4": (86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0),
    "ml110_g5": (93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0),
}


class PowerModel:
    """Piecewise-linear watts over utilization in [0, 1] (two points for the linear model)."""

    def __init__(self, watts_at: tuple[float, ...]):
        self.watts_at = np.asarray(watts_at, np.float64)
        self.points = np.linspace(0.0, 1.0, len(self.watts_at))
        self._idle, self._span = float(watts_at[0]), float(watts_at[-1] - watts_at[0])

    @classmethod
    def from_config(cls, hosts: HostConfig) -> "PowerModel":
        """The model `hosts.power_model` names."""
        if hosts.power_model == "linear":
            return cls((hosts.idle_watts, hosts.max_watts))
        if hosts.power_model in SPECPOWER_TABLES:
            return cls(SPECPOWER_TABLES[hosts.power_model])
        known = ", ".join(["linear", *SPECPOWER_TABLES])
        raise EnvConfigError(
            f"unknown env.hosts.power_model '{hosts.power_model}' (choose one of: {known})"
        )

    @property
    def idle_watts(self) -> float:
        return float(self.watts_at[0])

    def watts_one(self, utilization: float) -> float:
        """`watts` of one host, with Python floats."""
        u = min(max(utilization, 0.0), 1.0)
        if len(self.watts_at) == 2:
            return self._idle + self._span * u
        return float(np.interp(u, self.points, self.watts_at))

    def watts(self, utilization: np.ndarray) -> np.ndarray:
        """Power draw of a switched-on host; utilization is clipped to [0, 1]."""
        # minimum/maximum: np.clip costs several times more on small arrays.
        u = np.minimum(np.maximum(utilization, 0.0), 1.0)
        if len(self.watts_at) == 2:
            return self._idle + self._span * u
        return np.interp(u, self.points, self.watts_at)
