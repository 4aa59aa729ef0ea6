"""ExtenderService: the extender's decisions as a plain class (no Ray, no HTTP).

    service = ExtenderService(config, env_settings, policy)
    prepared = service.prepare("prioritize", body)      # parse + layout; RequestError -> 400
    decided = policy.decide([prepared.decision])[0] if service.needs_policy(prepared) else None
    answer = encode(service.answer(prepared, decided))  # decided None: the best-fit fallback

The Ray Serve deployment (marl_alloc.serving.app) wraps this with batching and the deadline;
`handle` runs the same steps synchronously.
"""

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import numpy as np

from envs import EnvConfig
from envs.observations import observation_dims
from envs.power import PowerModel
from envs.topology import Topology
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import to_plain
from marl_alloc.policy.forecaster import DemandForecasterModule
from marl_alloc.serving.carbon import GridIntensity
from marl_alloc.serving.cluster_demand import ClusterDemand
from marl_alloc.serving.config import ServeConfig
from marl_alloc.serving.decisions import HoldDecision, PolicyAnswer, ScoreDecision
from marl_alloc.serving.errors import shown
from marl_alloc.serving.forecasts import ExtenderForecasts
from marl_alloc.serving.group_loads import GroupLoadCache
from marl_alloc.serving.hierarchy import fits
from marl_alloc.serving.host_scores import HEURISTICS, heuristic_ranking, scores_from_ranking
from marl_alloc.serving.kube_objects import parse_pod
from marl_alloc.serving.last_decision import NO_FORECASTER, last_decision
from marl_alloc.serving.layout import LayoutCache, NodeLayout
from marl_alloc.serving.level_obs import LevelObservations, task_context
from marl_alloc.serving.metrics import ExtenderMetrics
from marl_alloc.serving.node_cache import NodeCache
from marl_alloc.serving.pod_durations import PodDurations
from marl_alloc.serving.policy import LevelQPolicy
from marl_alloc.serving.prepared import Prepared
from marl_alloc.serving.protocol import (
    ExtenderArgs,
    HostPriorities,
    NodeNamesMemo,
    RequestError,
    encode,
    error_body,
    filter_result,
    parse_extender_args,
)
from marl_alloc.serving.quantities import QuantityError, parse_quantity
from marl_alloc.serving.run_times import FinishedPod, PodRunTimes
from marl_alloc.serving.top_down import TopDownRanking

VERBS = ("filter", "prioritize")
UNKNOWN_NODE = (
    "unknown node: not (yet) in the extender's node cache, which follows the API server's "
    "node watch (serve.node_source=watch)"
)
logger = logging.getLogger(__name__)


def expected_dims(env: EnvConfig) -> tuple[dict[str, int], dict[str, int]]:
    """(obs_dims, num_actions) per level of a policy trained on this env config."""
    topology = Topology.from_config(env.topology)
    return observation_dims(topology, env.forecast_horizon), topology.num_actions


def _max_priority(env: EnvConfig, config: ServeConfig) -> int:
    if config.pod.max_priority is not None:
        return int(config.pod.max_priority)
    if env.workload.kind != "synthetic":
        raise UserError(
            f"set serve.pod.max_priority for a policy trained on {env.workload.kind} "
            "(the trace's highest priority, e.g. 11 for Google 2011)"
        )
    return max(len(env.workload.priority_probs) - 1, 1)


def _forecasts(
    module: DemandForecasterModule,
    nodes: NodeCache,
    cluster_layouts: LayoutCache,
    service: "ExtenderService",
) -> ExtenderForecasts:
    """The forecasts of a policy with a forecaster, over the whole cluster's nodes (its
    horizon covers env.forecast_horizon: forecaster_module_spec made it so)."""
    keep = module.window + max(module.seasonal_lags, default=0) + 1
    demand = ClusterDemand(nodes, cluster_layouts, module.resolution_s, keep)
    steps = service.env.forecast_horizon
    return ExtenderForecasts(module, demand, steps, service.clock, service.metrics.forecast)


class ExtenderService:
    """Filter and prioritize decisions for one replica (see the module docstring)."""

    def __init__(
        self,
        config: ServeConfig,
        env_settings: EnvConfig | Mapping[str, Any],
        policy: LevelQPolicy | None = None,
        heuristic: str = "best-fit",
        metrics: ExtenderMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if heuristic not in HEURISTICS:
            raise UserError(
                f"unknown policy '{heuristic}' (choose one of: {', '.join(HEURISTICS)})"
            )
        self.config = config
        self.env = EnvConfig.from_mapping(env_settings)
        self.policy = policy
        self.heuristic = heuristic
        self.metrics = metrics or ExtenderMetrics()
        self.clock = clock if config.clock_s is None else (lambda: float(config.clock_s))
        self.intensity = GridIntensity.from_settings(to_plain(self.env.carbon), config.carbon)
        self.max_priority = _max_priority(self.env, config)
        self.power_model = PowerModel.from_config(self.env.hosts)
        self.watching = config.node_source == "watch"
        # A watched cache holds the cluster's nodes, however many: no size limit.
        size = None if self.watching else config.node_cache_size
        self.nodes = NodeCache(size, config.labels, config.annotations)
        # Refuses an oracle-trained policy's env: no cluster knows a pod's run time.
        self.durations = PodDurations(self.env.knowledge, config.finished_pods_kept)
        self.run_times = PodRunTimes(
            config.pod.priority_thresholds, self.max_priority, self.durations, self._pods_ended
        )
        self.forecasts: ExtenderForecasts | None = None
        self.last_decision: dict[str, Any] | None = None  # for GET /stats
        units = config.capacity_unit
        try:
            cpu_unit = None if units.cpu is None else parse_quantity(units.cpu)
            mem_unit = None if units.memory is None else parse_quantity(units.memory)
        except QuantityError as err:
            raise UserError(f"serve.capacity_unit: {err}") from None
        self.group_loads = GroupLoadCache()
        # What one call keeps for the next: the names list, the answer's JSON around the scores.
        self.node_names = NodeNamesMemo()
        self.priorities = HostPriorities()
        topology = Topology.from_config(self.env.topology)
        overcommit = (self.env.hosts.cpu_overcommit_max, self.env.hosts.mem_overcommit)
        self.layouts = LayoutCache(topology, (cpu_unit, mem_unit), overcommit)
        if policy is not None and policy.forecaster is not None:
            cluster_layouts = LayoutCache(topology, (cpu_unit, mem_unit), overcommit)
            self.forecasts = _forecasts(policy.forecaster, self.nodes, cluster_layouts, self)
        if policy is not None:
            want = expected_dims(self.env)
            if (policy.obs_dims, policy.num_actions) != want:
                raise UserError(
                    f"the policy's sizes {policy.obs_dims} do not match its env topology "
                    f"{want[0]}; was the checkpoint trained with other env settings?"
                )

    # ---- what the demand history hears of ------------------------------------------------------

    def pod_bound(self, node: str) -> None:
        """A pod was bound to `node` just now (the bind verb): an arrival there."""
        if self.forecasts is not None:
            self.forecasts.demand.arrival(node, self.clock())

    def _pods_ended(self, pods: list[FinishedPod]) -> None:
        if self.forecasts is not None:
            for pod in pods:
                if pod.node:
                    self.forecasts.demand.departure(pod.node, pod.ended_s)

    def forecast_snapshot(self) -> dict[str, Any]:
        """The forecast's source and age for /stats, and which events its history hears of."""
        if self.forecasts is None:
            return {"source": NO_FORECASTER}
        cfg = self.config
        heard = {
            "arrivals_from": "bind verb" if cfg.bind_verb else "none: serve.bind_verb is null",
            "departures_from": "finished pods watch"
            if cfg.watch_finished_pods
            else "none: serve.watch_finished_pods is false",
        }
        return {**self.forecasts.snapshot(float(self.clock())), **heard}

    # ---- parsing -----------------------------------------------------------------------------

    def _layout(self, args: ExtenderArgs) -> tuple[NodeLayout, np.ndarray | None]:
        """The candidates whose objects are known, laid out; and each name's table row."""
        if args.node_keys is not None:
            table = self.nodes.table(args.node_keys, lambda: args.raw_nodes)
            return self.layouts.layout(table, np.arange(len(table))), None
        # NodeNames (nodeCacheCapable): nodes known from the watch or earlier Nodes requests.
        table, name_rows = self.nodes.cluster_view(args.node_names)
        candidates = np.sort(name_rows[name_rows >= 0])
        return self.layouts.layout(table, candidates), name_rows

    def prepare(self, verb: str, body: bytes | dict) -> Prepared:
        """Parse and validate a request (JSON bytes, or the decoded document); build the
        policy's observations when it is needed."""
        if verb not in VERBS:
            raise RequestError(
                f"unknown extender verb '{shown(verb)}' (serving: {', '.join(VERBS)})"
            )
        if not isinstance(body, bytes | bytearray | str):
            body = encode(body)
        args = parse_extender_args(body, self.node_names)
        env, cfg = self.env, self.config
        pod = parse_pod(args.pod, cfg.annotations, cfg.pod, self.max_priority)
        layout, name_rows = self._layout(args)
        hosts, tiling = layout.hosts, layout.tiling
        cpu_unit, mem_unit = layout.cpu_unit, layout.mem_unit
        feasible = fits(hosts, pod.cpu / cpu_unit, pod.mem / mem_unit) & (tiling.node_of_slot >= 0)
        now = float(self.clock())
        arrival = now if pod.created_s is None else pod.created_s
        # The simulator's rule for the defer action (VectorDatacenterEnv._can_defer).
        can_defer = (
            pod.deferrable
            and pod.defers < env.max_defers
            and now + env.defer_delay_s <= arrival + env.workload.deferrable_deadline_s
        )
        prepared = Prepared(
            verb=verb,
            args=args,
            names=args.names,
            pod=pod,
            layout=layout,
            name_rows=name_rows,
            feasible=feasible,
            now_s=now,
            g_per_kwh=self.intensity.g_per_kwh(now),
            can_defer=bool(can_defer),
            waited_s=now - arrival,
            decision=None,
        )
        if self._policy_wanted(prepared):
            prepared.duration = self.durations.believe(pod.workload, pod.priority, pod.cpu, pod.mem)
            tc = task_context(
                pod,
                prepared.duration,
                cpu_unit,
                mem_unit,
                self.intensity.sim_time(now),
                self.intensity.normalized(now),
                max_priority=self.max_priority,
                max_defers=env.max_defers,
                forecast_horizon=env.forecast_horizon,
                usage_factor_mean=env.workload.usage_factor_mean,
                power_model=self.power_model,
                hosts=env.hosts,
                can_defer=prepared.can_defer,
            )
            loads = self.group_loads.loads(hosts, tiling)
            # The last forward's forecast: a decision never runs the forecaster.
            forecast = None if self.forecasts is None else self.forecasts.for_layout(layout)
            levels = LevelObservations(hosts, feasible, tiling.topology, tc, loads, forecast)
            if verb == "prioritize":
                ranking = TopDownRanking(feasible, tiling)
                prepared.decision = ScoreDecision(levels, ranking, len(layout.table))
            else:
                prepared.decision = HoldDecision(levels)
        return prepared

    def _policy_wanted(self, p: Prepared) -> bool:
        if self.policy is None or len(p.layout.candidates) == 0:
            return False
        if p.verb == "prioritize":
            return True
        return self.config.carbon.hold_by == "policy" and p.pod.deferrable and p.can_defer

    def needs_policy(self, prepared: Prepared) -> bool:
        """Whether `answer` wants the policy's answer for this request."""
        return prepared.decision is not None

    # ---- answers -----------------------------------------------------------------------------

    def answer(self, p: Prepared, decided: PolicyAnswer | None) -> Any:
        """The answer for `encode`: ExtenderFilterResult or HostPriorityList. Without the
        policy's answer (heuristic policy, deadline or error) the best-fit fallback decides."""
        answered_by = "policy" if decided is not None else f"{self.heuristic} (fallback)"
        if p.verb == "filter":
            if p.decision is not None:
                self.last_decision = last_decision(p, answered_by, None, self._forecast_age(p))
            return self._filter(p, None if decided is None else decided.cluster_q)
        layout = p.layout
        if decided is not None:
            per_row = decided.scores
        else:
            cpu, mem = p.pod.cpu / layout.cpu_unit, p.pod.mem / layout.mem_unit
            ranked = heuristic_ranking(
                self.heuristic, layout.hosts, cpu, mem, p.feasible, layout.tiling
            )
            per_row = scores_from_ranking(ranked, len(layout.table))
        scores = p.request_order(per_row)
        if p.decision is not None:
            self.last_decision = last_decision(p, answered_by, scores, self._forecast_age(p))
        return msgspec.Raw(self.priorities.encode(p.names, scores))

    def _forecast_age(self, p: Prepared) -> int | None:
        forecast = p.decision.levels.forecast
        if forecast is None:
            return None
        return self.forecasts.age_bins(p.now_s, forecast.source)

    def _hold(self, p: Prepared, cluster_q: np.ndarray | None) -> str | None:
        """Why the deferrable pod waits now, or None. The threshold holds it at most max_hold_s
        after its creation; the policy only while its defer action is allowed (can_defer)."""
        carbon = self.config.carbon
        if carbon.hold_by == "never" or not p.pod.deferrable:
            return None
        if carbon.hold_by == "policy" and cluster_q is not None:
            if not p.can_defer:
                return None
            # Every virtual cluster's greedy cluster-level action is the defer action.
            masked = np.where(p.decision.levels.mask["cluster"], cluster_q, -np.inf)
            defer = p.layout.tiling.topology.racks_per_cluster
            if (masked.argmax(axis=1) == defer).all():
                return (
                    f"held back: the policy defers this deferrable pod at grid intensity "
                    f"{p.g_per_kwh:.0f} g CO2e/kWh"
                )
            return None
        limit = carbon.max_hold_s
        if limit is None:
            limit = self.env.workload.deferrable_deadline_s - self.env.defer_delay_s
        if p.g_per_kwh > carbon.threshold_g_per_kwh and p.waited_s < limit:
            return (
                f"held back: grid intensity {p.g_per_kwh:.0f} g CO2e/kWh is above "
                f"{carbon.threshold_g_per_kwh:.0f}; deferrable pod waits for cleaner power"
            )
        return None

    def _filter(self, p: Prepared, cluster_q: np.ndarray | None) -> dict[str, Any]:
        carbon = self.config.carbon
        reason = self._hold(p, cluster_q)
        holding = reason is not None or (
            carbon.hold_by == "threshold" and p.g_per_kwh > carbon.threshold_g_per_kwh
        )
        self.metrics.carbon(p.g_per_kwh, holding)
        if p.pod.deferrable:
            self.metrics.deferrable(reason is not None)
        names = p.names
        if reason is not None:
            # Unresolvable: preempting other pods would not let this one run now.
            return filter_result(p.args, names, [], {}, {name: reason for name in names})
        failed: dict[str, str] = {}
        known = np.ones(len(names), bool) if p.name_rows is None else p.name_rows >= 0
        if self.watching:
            failed = {names[i]: UNKNOWN_NODE for i in np.flatnonzero(~known)}
        if self.config.filter_unfit_nodes:
            tiling = p.layout.tiling
            fit_rows = np.zeros(len(p.layout.table), bool)
            real = tiling.node_of_slot >= 0
            fit_rows[tiling.node_of_slot[real]] = p.feasible[real]
            fits_here = p.request_order(fit_rows).astype(bool)
            unfit = np.flatnonzero(known & ~fits_here)
            failed |= {
                names[i]: "insufficient cpu or memory (marl-alloc node annotations)" for i in unfit
            }
        passed = [name for name in names if name not in failed] if failed else names
        return filter_result(p.args, names, passed, failed, {})

    # ---- one call, synchronously ---------------------------------------------------------------

    def parse(self, verb: str, body: bytes | dict) -> tuple[Prepared | None, bytes | None]:
        """(prepared, None), or (None, the 400 answer's JSON) for a malformed request."""
        try:
            return self.prepare(verb, body), None
        except RequestError as err:
            message = str(err)
        except Exception as err:  # noqa: BLE001 - a shape no check foresaw is still bad input
            logger.warning("unexpected request shape", exc_info=True)
            message = f"malformed ExtenderArgs ({type(err).__name__}: {err})"
        self.metrics.request(verb, 400)
        return None, encode(error_body(message))

    def handle(self, verb: str, body: bytes | dict) -> tuple[int, bytes]:
        """(HTTP status, JSON body) of one call: 400 for malformed requests, and the best-fit
        fallback when the policy fails."""
        prepared, error = self.parse(verb, body)
        if prepared is None:
            return 400, error
        decided = None
        if self.needs_policy(prepared):
            try:
                (decided,) = self.policy.decide([prepared.decision])
            except Exception:  # noqa: BLE001 - never fail the scheduler; count and fall back
                logger.exception("policy failed; answering with %s", self.heuristic)
                self.metrics.fallback(verb, "error")
        self.metrics.request(verb, 200)
        return 200, encode(self.answer(prepared, decided))
