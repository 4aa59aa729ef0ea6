"""ExtenderForecasts: the policy's forecaster run on the cluster's demand bins, once per closed
bin, and its forecast laid onto each call's virtual clusters, racks and leaf groups.

A forward runs in the replica's own thread (`start`) when a bin of the ClusterDemand has closed
(marl_alloc.serving.cluster_demand), with the simulator's code: marl_alloc.policy.forecast_feed
.leaf_forecasts, the function ForecastFeed calls in training and evaluation. A decision never
runs the forecaster: it reads the last forecast (zeros until the first forward).

A call's leaf group reads the forecast of the cluster leaf group its nodes sit in (the mean over
its nodes: a call over all nodes has the cluster's leaf groups, each its own forecast); a rack
or cluster row the mean over its leaf groups that hold nodes, as the simulator averages the
leaf groups under an agent (envs.observations.level_forecast). Padding leaf groups read zeros.
"""

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from envs.observations import level_forecast
from envs.topology import Topology
from marl_alloc.floor.levels import LEVELS
from marl_alloc.policy.forecast_feed import leaf_forecasts
from marl_alloc.policy.forecaster import DemandForecasterModule
from marl_alloc.serving.cluster_demand import ClusterDemand
from marl_alloc.serving.hierarchy import Tiling
from marl_alloc.serving.layout import NodeLayout

SOURCE = "forecaster: the policy checkpoint's, on the cluster's closed demand bins"
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ClusterForecast:
    """One forward's forecast per cluster leaf group, and which nodes sit in each."""

    per_leaf: np.ndarray  # float32[cluster leaf groups, forecast_horizon]
    leaf_of: dict[str, int]  # node name -> cluster leaf group
    generation: int  # the demand history's (ClusterDemand.generation)
    bins_closed: int  # bins the forward's windows end with
    end_s: float  # when the last of them closed


@dataclasses.dataclass(frozen=True)
class LevelForecast:
    """The forecast features of every row of every level of one call's layout, and the
    forecast they come from (None: no forward yet, zeros)."""

    rows: dict[str, np.ndarray]  # level -> float32[rows, forecast_horizon]
    source: ClusterForecast | None


def _rows(top: Topology) -> dict[str, int]:
    """Rows (agents) per level of a layout's topology."""
    return dict(zip(LEVELS, (top.num_clusters, top.num_racks, top.num_leaves), strict=True))


class ExtenderForecasts:
    """Forecasts for one replica (see the module docstring)."""

    def __init__(
        self,
        module: DemandForecasterModule,
        demand: ClusterDemand,
        forecast_horizon: int,
        clock: Callable[[], float] = time.time,
        publish: Callable[[int | None, int], None] | None = None,
    ):
        self.module = module
        self.publish = publish  # (age in bins, forwards) after every tick: the metrics
        self.demand = demand
        self.steps = int(forecast_horizon)
        self.clock = clock
        self.current: ClusterForecast | None = None
        self.forwards = 0
        self.last_forward_s: float | None = None
        self._for_layout: tuple[Tiling, list[str], ClusterForecast | None, LevelForecast] | None
        self._for_layout = None
        self._rows_of: tuple[list[str], dict[str, int], np.ndarray] | None = None
        self._stop = threading.Event()

    def tick(self, now_s: float | None = None) -> bool:
        """Bring the demand bins up to `now_s` (default: the clock); forecast when a bin has
        closed since the last forward. True if a forward ran."""
        now_s = self.clock() if now_s is None else now_s
        ran = self._forward_if_due(now_s)
        if self.publish is not None:
            self.publish(self.age_bins(now_s, self.current), self.forwards)
        return ran

    def _forward_if_due(self, now_s: float) -> bool:
        demand = self.demand
        demand.advance(now_s)
        closed, generation = demand.bins_closed, demand.generation
        current = self.current
        seen = None if current is None else (current.generation, current.bins_closed)
        if closed == 0 or seen == (generation, closed):
            return False
        started = time.perf_counter()
        per_leaf = leaf_forecasts(
            self.module, demand.history, np.zeros(1, np.int64), np.array([closed]), self.steps
        )[0]
        self.last_forward_s = time.perf_counter() - started
        tiling = demand.layout.tiling
        hosts_per_leaf = tiling.topology.hosts_per_leaf
        leaf_of = {name: slot // hosts_per_leaf for name, slot in demand.slot_of.items()}
        current = ClusterForecast(per_leaf, leaf_of, generation, closed, demand.bin_end_s())
        # The cluster table's rows' leaf groups, here rather than in the next decision: calls
        # over the watched nodes (NodeNames) lay out that very table.
        real = tiling.real_slots
        rows = np.full(len(demand.layout.table), -1, np.int64)
        rows[tiling.node_of_slot[real]] = real // hosts_per_leaf
        self._rows_of = (demand.layout.table.names, leaf_of, rows)
        self.current = current
        self.forwards += 1
        return True

    def for_layout(self, layout: NodeLayout) -> LevelForecast:
        """The forecast features of `layout`'s rows, from the last forward (kept per layout and
        forecast: consecutive calls over the same nodes share them)."""
        current, tiling, names = self.current, layout.tiling, layout.table.names
        kept = self._for_layout
        if kept is not None and kept[0] is tiling and kept[1] is names and kept[2] is current:
            return kept[3]
        top = tiling.topology
        if current is None:
            rows = {level: np.zeros((n, self.steps), np.float32) for level, n in _rows(top).items()}
        else:
            rows = self._level_rows(current, tiling, self._cluster_leaf_of_rows(current, names))
        laid = LevelForecast(rows, current)
        self._for_layout = (tiling, names, current, laid)
        return laid

    def _cluster_leaf_of_rows(self, current: ClusterForecast, names: list[str]) -> np.ndarray:
        """int64[table rows]: each row's cluster leaf group (-1: not in the cluster's layout)."""
        kept = self._rows_of
        if kept is not None and kept[0] is names and kept[1] is current.leaf_of:
            return kept[2]
        leaf_of = current.leaf_of
        rows = np.fromiter((leaf_of.get(name, -1) for name in names), np.int64, len(names))
        self._rows_of = (names, leaf_of, rows)
        return rows

    def _level_rows(
        self, current: ClusterForecast, tiling: Tiling, leaf_of_row: np.ndarray
    ) -> dict[str, np.ndarray]:
        top, steps = tiling.topology, self.steps
        slot_row = tiling.node_of_slot
        leaf = np.where(slot_row >= 0, leaf_of_row[np.maximum(slot_row, 0)], -1)
        known = (leaf >= 0).reshape(top.num_leaves, top.hosts_per_leaf)
        per_slot = current.per_leaf[np.maximum(leaf, 0)].reshape(
            top.num_leaves, top.hosts_per_leaf, steps
        )
        nodes = known.sum(1)
        summed = np.where(known[..., None], per_slot, 0).sum(1, dtype=np.float32)
        per_leaf = summed / np.maximum(nodes, 1)[:, None].astype(np.float32)
        # Means over the leaf groups that hold nodes: the sum of their forecasts over their count.
        held = (nodes > 0).astype(np.float32)
        rows = {}
        for level, n in _rows(top).items():
            agents = np.arange(n)
            total = level_forecast(level, top, (per_leaf * held[:, None])[None], agents)
            count = level_forecast(level, top, held[None, :, None], agents)
            rows[level] = np.where(count > 0, total / np.maximum(count, 1e-12), 0).astype(
                np.float32
            )
        return rows

    def age_bins(self, now_s: float, forecast: ClusterForecast | None) -> int | None:
        """Bins that have ended since the last bin `forecast` read (None: no forward yet)."""
        if forecast is None:
            return None
        return max(int((now_s - forecast.end_s) // self.demand.resolution_s), 0)

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """The forecast's source and age, the forwards and the history, for /stats."""
        demand, current = self.demand, self.current
        return {
            "source": SOURCE,
            "resolution_s": demand.resolution_s,
            "window": self.module.window,
            "bins_closed": demand.bins_closed,
            "age_bins": self.age_bins(now_s, current),
            "forwards": self.forwards,
            "last_forward_ms": None
            if self.last_forward_s is None
            else round(self.last_forward_s * 1e3, 3),
            "history_restarts": max(demand.generation - 1, 0),
            "events_counted": dict(demand.counted),
        }

    def run(self, every_s: float) -> None:
        """Tick every `every_s` until stopped (a failed tick is logged, the next one tried)."""
        while not self._stop.wait(every_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the decisions go on with the last forecast
                logger.exception("forecast tick failed")

    def start(self, every_s: float = 1.0) -> "ExtenderForecasts":
        """Run `run` in a daemon thread."""
        thread = threading.Thread(target=self.run, args=(every_s,), name="forecasts", daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to end."""
        self._stop.set()
