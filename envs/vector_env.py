"""VectorDatacenterEnv: B independent datacenters stepped in lockstep, one agent level at a time.

One decision cycle per env places one pending task top-down: the cluster agent picks a rack of the
task's cluster (or defers the task), the rack agent a leaf group of that rack, the leaf agent a host
of that leaf group. After the leaf step, time advances to the env's next event (an arrival or a
deferred task coming back): tasks finish, hosts boot and sleep, and energy, carbon and SLA are
integrated; every usage period, task usage changes and overloaded hosts migrate tasks away.
The cycle's reward is minus the weighted costs of that interval (see RewardConfig).

    env = VectorDatacenterEnv(config, num_envs=64, seed=0)
    level_obs = env.reset()
    while True:
        result = env.step(policy(level_obs))   # level_obs.level: cluster -> rack -> leaf -> ...
        level_obs = result.next

A policy that picks hosts directly (the heuristics) can place a whole cycle at once with
`step_hosts(hosts)`, which builds no observations: the fast path for large datacenters.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs import env_state
from envs.arrivals import QUEUE_DTYPES, ArrivalQueue
from envs.carbon import CarbonSeries, deferral_outlook, outlook_features
from envs.commitment import HostCommitments, overload_hours
from envs.demand_history import ARRIVALS, DemandHistory
from envs.duration_knowledge import DurationKnowledge
from envs.dynamics import advance
from envs.errors import InvalidActionError
from envs.finishes import FinishQueue, ScanFinishes
from envs.hosts import OFF, ON, HostArrays, draw_capacities
from envs.metrics import EnvMetrics
from envs.observations import (
    PlacementQuery,
    assemble,
    child_blocks,
    context_features,
    level_forecast,
    observation_dims,
    task_features,
)
from envs.oracle_forecast import OracleForecast
from envs.power import PowerModel
from envs.power_manager import PowerManager
from envs.records import DEFER_DTYPES, PENDING_DTYPES, RUNNING_DTYPES, LevelObs, StepResult
from envs.single import step_hosts_one
from envs.slots import SlotTable
from envs.timeline import Timeline
from envs.topology import Topology
from envs.usage import UsageModel
from envs.usage_forecast import HostUsageForecast
from envs.warm_start import warm_start
from envs.workloads import Workload, build_workload
from marl_alloc.floor.levels import LEVELS
from marl_alloc.floor.settings.env import EnvConfig


class VectorDatacenterEnv:
    """B datacenters in numpy arrays; see the module docstring for the decision cycle."""

    LEVELS = LEVELS

    def __init__(
        self,
        config: EnvConfig | Mapping,
        num_envs: int,
        seed: int,
        continuing: bool = True,
        workload: Workload | None = None,
    ):
        self.config = EnvConfig.from_mapping(config)
        self.topology = top = Topology.from_config(self.config.topology)
        self.num_envs = int(num_envs)
        self.continuing = continuing
        self.workload = workload or build_workload(self.config.workload)
        self.power_model = PowerModel.from_config(self.config.hosts)
        self.usage_model = UsageModel(self.config.usage)
        self.knowledge = DurationKnowledge(self.config.knowledge)
        self.usage_forecast = HostUsageForecast(
            self.config.knowledge, self.config.usage, self.config.workload.usage_factor_mean
        )
        self.timeline: Timeline | None = None
        self.demand: DemandHistory | None = None
        self._demand_bins: tuple[float, int] | None = None
        self.num_actions = top.num_actions
        self.obs_dims = observation_dims(
            top, self.config.forecast_horizon, outlook_features(self.config.carbon)
        )
        self.agent_ids = top.agent_ids()
        self.forecast = np.zeros(
            (self.num_envs, top.num_leaves, self.config.forecast_horizon), np.float32
        )
        self._rows = np.arange(self.num_envs)
        self._seed, self._episode = int(seed), 0
        self.reset(seed)
        # So that the first reset() without a seed starts this same episode 0 again.
        self._episode = -1

    # ---- public API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> LevelObs:
        """Start new episodes (warm-started); the same seed gives the same episodes."""
        if seed is None:
            self._episode += 1
        else:
            self._seed, self._episode = int(seed), 0
        B, top, cfg = self.num_envs, self.topology, self.config
        root = np.random.SeedSequence([abs(self._seed), self._episode])
        env_seeds = root.spawn(B)
        self.carbon = CarbonSeries.from_config(cfg.carbon, abs(self._seed))
        misc = [np.random.default_rng(s.spawn(1)[0]) for s in env_seeds]
        stream = [np.random.default_rng(s.spawn(1)[0]) for s in env_seeds]
        self.usage_rng = np.random.default_rng(root.spawn(1)[0])
        self.now = np.array([self.workload.start_s(r) for r in misc])
        capacities = draw_capacities(self.workload, cfg.hosts, misc, top.num_hosts)
        self.hosts = HostArrays.empty(*capacities, self.power_model, cfg.hosts)
        self.hosts.idle_since_s[:] = self.now[:, None]
        forecast_power = cfg.power.manager == "forecast"
        self.power_manager = (
            PowerManager(cfg.power, cfg.hosts, top, self.now) if forecast_power else None
        )
        self.oracle_forecast = None  # built below, once the first task is pending
        self.running = SlotTable(B, RUNNING_DTYPES, capacity=1024)
        self.deferred = SlotTable(B, DEFER_DTYPES, capacity=64)
        num_tasks = None if self.continuing else cfg.episode_tasks
        sources = [
            self.workload.open(r, float(t), num_tasks, float(cpu))
            for r, t, cpu in zip(stream, self.now, self.hosts.cpu_capacity.sum(1), strict=True)
        ]
        self.arrivals = ArrivalQueue(sources, misc, top.num_clusters)
        self.knowledge.reset()
        self.tasks_at_start, self.tasks_dropped_at_start = warm_start(
            self.knowledge,
            self.hosts,
            self.running,
            self.workload,
            misc,
            self.now,
            cfg.workload,
            self.usage_model,
            self.usage_rng,
        )
        # One big datacenter (a trace cell): heaps; many small ones: vectorized scans.
        self.finishes = FinishQueue(B) if B == 1 else ScanFinishes(B, self.running)
        self.finishes.rebuild(self.running)
        # Always kept: the observations show how long each host is held on already.
        self.commitments = HostCommitments(self.hosts, self.running)
        self.charges_commitments = self.continuing and cfg.reward.w_commit > 0
        self.next_tick_s = self.usage_model.next_tick_s(self.now)
        self.usage_forecast.rebuild(B, top.num_hosts)
        self.metrics_ = EnvMetrics.zeros(B)
        run = self.running
        left = np.where(run.active, run["cpu"] * (run["end_s"] - self.now[:, None]), 0.0)
        self.metrics_["task_cpu_s"] = left.sum(axis=1)  # tasks running at the start count too
        self.pending = {k: np.zeros(B, d) for k, d in PENDING_DTYPES.items()}
        self.has_pending = np.zeros(B, bool)
        self.done = np.zeros(B, bool)
        self.last_arrival_s = self.now.copy()
        self.feasible_hosts = np.zeros((B, top.num_hosts), bool)
        self._rack = np.zeros(B, np.int64)
        self._leaf = np.zeros(B, np.int64)
        self._deferred_now = np.zeros(B, bool)
        self._cost = np.zeros(B)
        self._level = 0
        if self.timeline is not None:
            self.timeline = Timeline(self.now, self.metrics_, self.timeline.period_s)
        if self._demand_bins is not None:
            self.demand = DemandHistory(top, self.hosts, self.now, *self._demand_bins)
            self.forecast[:] = 0.0  # the last episode's forecast says nothing about this one
        self._next_tasks()
        # The forecasts' ceiling (an ablation): the true future demand fills the forecast slots.
        oracle = cfg.knowledge.demand_forecast == "oracle"
        self.oracle_forecast = OracleForecast(self) if oracle else None
        self._level_obs: LevelObs | None = None
        return self.observe()

    def observe(self) -> LevelObs:
        """What the acting level sees now (built on first use after step_hosts)."""
        if self._level_obs is None:
            self._level_obs = self._observe()
        return self._level_obs

    @property
    def _obs(self) -> LevelObs:
        # Older callers read the current observation here.
        return self.observe()

    def step(self, actions: np.ndarray) -> StepResult:
        """Apply the acting level's actions (ignored where inactive); see StepResult."""
        lo = self.observe()
        actions = np.asarray(actions).reshape(self.num_envs).astype(np.int64)
        self._check(lo, actions)
        reward = np.zeros(self.num_envs, np.float32)
        cycle_end = lo.level == "leaf"
        if lo.level == "cluster":
            # A cycle's costs start with its first decision: a deferral is charged in it.
            self._cost[:] = 0.0
            self._decide_rack(lo.active, actions)
        elif lo.level == "rack":
            leaf = self._rack * self.topology.leaves_per_rack + actions
            self._leaf = np.where(lo.active, leaf, 0)
        else:
            host = self._leaf * self.topology.hosts_per_leaf + actions
            self._place(np.flatnonzero(lo.active), host[lo.active])
            self._next_tasks()
            reward = (-self._cost).astype(np.float32)
        self._level = (self._level + 1) % len(LEVELS)
        self._level_obs = self._observe()
        return StepResult(self._level_obs, reward, cycle_end, self.done.copy())

    def step_hosts(self, hosts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A whole decision cycle at once: place each env's pending task on `hosts[b]` (global
        host index; -1 defers it), as the cluster, rack and leaf actions leading there would.
        Only at the cluster level; builds no observation. Returns (reward, done) as step's."""
        if self._level != 0:
            raise InvalidActionError(
                f"step_hosts needs the cluster level to act, not {LEVELS[self._level]}; "
                "finish the cycle with step()"
            )
        hosts = np.asarray(hosts, np.int64).reshape(self.num_envs)
        self._cost[:] = 0.0
        self._level_obs = None
        if self.num_envs == 1:
            step_hosts_one(self, int(hosts[0]))
            return (-self._cost).astype(np.float32), self.done.copy()
        active = self.has_pending
        defer = active & (hosts < 0)
        place = active & ~defer
        envs, chosen = np.flatnonzero(place), hosts[place]
        ok = (chosen < self.topology.num_hosts) & self.feasible_hosts[envs, np.maximum(chosen, 0)]
        ok_defer = self._can_defer()[defer]
        if not ok.all() or not ok_defer.all():
            env = int(envs[~ok][0]) if not ok.all() else int(np.flatnonzero(defer)[~ok_defer][0])
            raise InvalidActionError(
                f"host {int(hosts[env])} for env {env} is not allowed (it does not fit, or the "
                "task cannot be deferred); choose among feasible_hosts"
            )
        self._defer(np.flatnonzero(defer))
        self._place(envs, chosen)
        self._next_tasks()
        return (-self._cost).astype(np.float32), self.done.copy()

    def record_timeline(self, period_s: float = 60.0) -> Timeline:
        """Sample the metrics every period_s of simulated time from now on (and after resets)."""
        self.timeline = Timeline(self.now, self.metrics_, period_s)
        return self.timeline

    def record_demand(self, resolution_s: float, keep_bins: int) -> DemandHistory:
        """Record per-leaf-group demand in bins of resolution_s from now on (and after resets),
        keeping the last keep_bins closed bins (see envs.demand_history)."""
        self._demand_bins = (float(resolution_s), int(keep_bins))
        self.demand = DemandHistory(self.topology, self.hosts, self.now, *self._demand_bins)
        return self.demand

    @property
    def demand_bins_closed(self) -> np.ndarray:
        """int[B]: demand bins closed per env since reset (record_demand); a bin closes as
        simulated time passes its end."""
        if self.demand is None:
            raise RuntimeError("no demand history: call record_demand first")
        return self.demand.closed

    def demand_window(
        self, window: int, envs: np.ndarray | None = None, end: np.ndarray | None = None
    ) -> np.ndarray:
        """float32[n, leaves, window, 6]: the closed demand bins [end - window, end) of `envs`
        (default: all, up to their last closed bin); bins before the first repeat it."""
        envs = self._rows if envs is None else np.asarray(envs, np.int64)
        end = self.demand_bins_closed[envs] if end is None else end
        return self.demand.window(window, envs, end)

    def set_forecast(self, leaf_forecast: np.ndarray, envs: np.ndarray | None = None) -> None:
        """Forecast features per leaf group, float[B (or len(envs)), leaves, forecast_horizon];
        every observation built from now on sees them (observe() rebuilds the current one)."""
        if envs is None:
            self.forecast[:] = leaf_forecast
        else:
            self.forecast[np.asarray(envs, np.int64)] = leaf_forecast
        self._level_obs = None

    def metrics(self) -> dict[str, np.ndarray]:
        """Per-env metrics since reset / reset_metrics, each an array of shape [B]."""
        return self.metrics_.report(self.deferred.count, self.has_pending)

    def reset_metrics(self) -> None:
        """Start a new metrics window (continuing training); tasks in flight carry over."""
        self.metrics_.reset(self.deferred.count + self.has_pending)

    # ---- one decision cycle ----------------------------------------------------------------

    def _check(self, lo: LevelObs, actions: np.ndarray) -> None:
        act = lo.active
        a = actions[act]
        ok = (a >= 0) & (a < self.num_actions[lo.level])
        ok[ok] = lo.action_mask[act][ok, a[ok]]
        if not ok.all():
            env = int(np.flatnonzero(act)[~ok][0])
            raise InvalidActionError(
                f"{lo.level} action {int(actions[env])} in env {env} is masked out; "
                "choose among action_mask's True entries"
            )

    def _decide_rack(self, active: np.ndarray, actions: np.ndarray) -> None:
        R = self.topology.racks_per_cluster
        defer = active & (actions == R)
        self._deferred_now = defer
        self._rack = np.where(active & ~defer, self.pending["cluster"] * R + actions, 0)
        self._defer(np.flatnonzero(defer))

    def _defer(self, envs: np.ndarray) -> None:
        if envs.size:
            if self.charges_commitments:
                self._cost[envs] += self._least_commit_charge(envs)
            row = {k: self.pending[k][envs] for k in PENDING_DTYPES}
            row["defers"] = row["defers"] + 1
            row["resubmit_s"] = self.now[envs] + self.config.defer_delay_s
            self.deferred.insert(envs, row)
            self._cost[envs] += self.config.reward.w_defer
            self.metrics_.values["deferrals"][envs] += 1
            self.has_pending[envs] = False

    def _place(self, envs: np.ndarray, host: np.ndarray) -> None:
        if envs.size == 0:
            return
        h, cfg = self.hosts, self.config
        was_off = h.power_state[envs, host] == OFF
        p = {k: v[envs] for k, v in self.pending.items()}
        overload_h = overload_hours(
            self.overcommit_usage()[envs, host],
            p["cpu"] * cfg.workload.usage_factor_mean,
            h.cpu_capacity[envs, host],
            p["duration_est_s"],
        )
        h.wake(envs, host, self.now)
        start = np.where(h.power_state[envs, host] == ON, self.now[envs], h.boot_done_s[envs, host])
        z = self.usage_rng.standard_normal(envs.size).astype(np.float32)
        usage = self.usage_model.usage(p["cpu"], p["usage_factor"], z).astype(np.float32)
        h.place(envs, host, p["cpu"], p["mem"], usage)
        if self.demand is not None:
            self.demand.count(envs, host, ARRIVALS)
        end_s = start + p["duration_s"]
        # Decisions and their charges know only the believed end, never the true one.
        est_end_s = start + p["duration_est_s"]
        kwh = self.commitments.commit_kwh(envs, host, est_end_s, was_off, self.now[envs])
        if self.charges_commitments:
            self._cost[envs] += self.commit_charge(envs, kwh, overload_h)
        slots = self.running.insert(
            envs,
            {
                "host": host,
                "cpu": p["cpu"],
                "mem": p["mem"],
                "factor": p["usage_factor"],
                "z": z,
                "usage": usage,
                "usage_n": 1,
                "usage_sum": usage,
                "end_s": end_s,
                "est_end_s": est_end_s,
                "run_s": p["duration_s"],
                "priority": p["priority"],
                "owner": p["owner"],
                "task_class": p["task_class"],
            },
        )
        self.finishes.push(envs, end_s, slots)
        self.usage_forecast.place(self.running, envs, slots)
        w = cfg.workload
        limit = np.where(p["deferrable"], w.deferrable_deadline_s, w.slo_s)
        missed = start - p["arrival_s"] > limit
        self.metrics_["tasks_placed"][envs] += 1
        self.metrics_["task_cpu_s"][envs] += p["cpu"].astype(np.float64) * p["duration_s"]
        self.metrics_["slo_violations"][envs] += missed
        self._cost[envs] += cfg.reward.w_wait * missed
        self.has_pending[envs] = False

    def _next_tasks(self) -> None:
        """Give every env that is not done its next pending task, rejecting infeasible ones."""
        todo = ~self.done & ~self.has_pending
        while todo.any():
            t_arrival = self.arrivals.next_arrival_s(todo)
            resubmit = np.where(self.deferred.active, self.deferred["resubmit_s"], np.inf)
            slot = np.argmin(resubmit, axis=1)
            t_resubmit = resubmit[self._rows, slot]
            t_event = np.minimum(t_arrival, t_resubmit)
            self.end_episodes(todo & np.isinf(t_event))
            todo &= ~self.done
            if not todo.any():
                break
            self._advance(todo, np.maximum(self.now, t_event))
            from_queue = todo & (t_resubmit <= t_arrival)
            self._load(np.flatnonzero(todo & ~from_queue), None)
            self._load(np.flatnonzero(from_queue), slot)
            rejected = todo & ~self._feasible() & ~self._can_defer()
            self.metrics_["tasks_rejected"] += rejected
            self._cost += self.config.reward.w_reject * rejected
            self.has_pending &= ~rejected
            todo = rejected

    def commit_price(self, envs: np.ndarray) -> np.ndarray:
        """Cost per committed idle kWh in these envs now: w_commit x (energy + carbon price)."""
        w = self.config.reward
        kg_per_kwh = self.carbon.at(self.now[envs]) / 1000.0
        return w.w_commit * (w.w_energy + w.w_carbon * kg_per_kwh)

    def commit_charge(
        self, envs: np.ndarray, idle_kwh: np.ndarray, overload_h: np.ndarray
    ) -> np.ndarray:
        """What placements in these envs pay for their commitments (envs/commitment.py): the
        idle kWh at commit_price, the overloaded host-hours at w_commit x w_sla ([n] or
        [n, H] arrays)."""
        w = self.config.reward
        price = self.commit_price(envs).reshape((-1,) + (1,) * (np.ndim(idle_kwh) - 1))
        return price * idle_kwh + w.w_commit * w.w_sla * overload_h

    def _least_commit_charge(self, envs: np.ndarray) -> np.ndarray:
        """What these envs' pending tasks would pay for their commitments on their cheapest
        feasible host now (0 where none fits). A deferral postpones a placement without
        avoiding it, so it pays this too: a charge the return would otherwise see only when
        the task comes back, beyond its horizon, would make deferring look free."""
        p = self.pending
        kwh, overload_h = self.commitments.would_commit(
            envs,
            self.hosts,
            self.overcommit_usage()[envs],
            p["cpu"][envs] * self.config.workload.usage_factor_mean,
            p["duration_est_s"][envs],
            self.now[envs],
        )
        charge = self.commit_charge(envs, kwh, overload_h)
        least = np.where(self.feasible_hosts[envs], charge, np.inf).min(axis=1)
        return np.where(np.isfinite(least), least, 0.0)

    def end_episodes(self, ended: np.ndarray) -> None:
        """Mark the masked envs done; a finite episode first runs on to its last arrival plus
        the episode tail, so each policy is charged for the same span of time."""
        if not ended.any():
            return
        if not self.continuing:
            end = np.maximum(self.now, self.last_arrival_s + self.config.resolved_episode_tail_s)
            self._advance(ended, np.where(ended, end, self.now))
        self.done |= ended

    def _load(self, envs: np.ndarray, queue_slot: np.ndarray | None) -> None:
        if envs.size == 0:
            return
        if queue_slot is None:
            row = self.arrivals.pop(envs)
            row["defers"] = np.zeros(envs.size, np.int16)
            self.metrics_["tasks_total"][envs] += 1
            self.last_arrival_s[envs] = row["arrival_s"]
        else:
            slot = queue_slot[envs]
            row = {k: self.deferred[k][envs, slot] for k in PENDING_DTYPES}
            self.deferred.remove(envs, slot)
        for name in QUEUE_DTYPES:
            self.pending[name][envs] = row[name]
        self.pending["defers"][envs] = row["defers"]
        self.knowledge.believe_pending(self.pending, envs)
        self.has_pending[envs] = True

    def _feasible(self) -> bool:
        """Update feasible_hosts for the pending tasks; True where some host fits."""
        fit = self.hosts.fits(self.pending["cpu"], self.pending["mem"]) & self.has_pending[:, None]
        top = self.topology
        if top.num_clusters > 1:
            own = np.arange(top.num_clusters)[None, :] == self.pending["cluster"][:, None]
            fit = (fit.reshape(self.num_envs, top.num_clusters, -1) & own[:, :, None]).reshape(
                self.num_envs, -1
            )
        self.feasible_hosts = fit
        return fit.any(axis=1)

    def _can_defer(self) -> np.ndarray:
        p, cfg = self.pending, self.config
        later = self.now + cfg.defer_delay_s
        return (
            self.has_pending
            & p["deferrable"]
            & (p["defers"] < cfg.max_defers)
            & (later <= p["arrival_s"] + cfg.workload.deferrable_deadline_s)
        )

    def _advance(self, envs: np.ndarray, target: np.ndarray) -> None:
        """Move the masked envs' clocks to target, integrating costs and processing events."""
        advance(self, envs, target)

    # ---- observations -----------------------------------------------------------------------

    def _observe(self) -> LevelObs:
        level = LEVELS[self._level]
        has_task = self.has_pending & ~self._deferred_now
        if level == "cluster":
            active, agent = self.has_pending.copy(), self.pending["cluster"].astype(np.int64)
        else:
            active, agent = has_task, self._rack if level == "rack" else self._leaf
        blocks, mask = child_blocks(
            level,
            self.topology,
            self.hosts,
            self.commitments.until,
            self.feasible_hosts,
            agent,
            self.placement_query(),
            None if self.usage_forecast.mode == "current" else self.overcommit_usage(),
        )
        if level == "cluster":
            mask = np.concatenate([mask, self._can_defer()[:, None]], axis=1)
            if self.oracle_forecast is not None:
                self.oracle_forecast.refresh(self)
        context = context_features(
            self.now,
            self.carbon.at(self.now) / self.carbon.mean,
            level_forecast(level, self.topology, self.forecast, agent),
            self._carbon_outlook(),
        )
        task = task_features(self.pending, self.workload.max_priority, self.config.max_defers)
        mask = mask | ~active[:, None]
        return LevelObs(level, assemble(blocks, task, context), mask, active, agent.copy())

    def _carbon_outlook(self) -> np.ndarray | None:
        """What a deferral would meet (env.carbon.forecast), or None when not observed."""
        cfg = self.config
        if cfg.carbon.forecast == "none":
            return None
        return deferral_outlook(
            self.carbon, cfg.carbon, self.now, cfg.defer_delay_s, cfg.max_defers
        )

    def overcommit_usage(self) -> np.ndarray:
        """float[B, H]: the host CPU usage that overcommit decisions read, per
        env.knowledge.host_usage (envs/usage_forecast.py): the overload flag and headroom
        features, PABFD's overload check and the overload charge."""
        return self.usage_forecast.read(self.hosts, self.running, self.next_tick_s)

    def placement_query(self) -> PlacementQuery:
        """Each env's pending task as the placement features (and heuristics) read it."""
        p, h = self.pending, self.hosts
        return PlacementQuery(
            cpu=p["cpu"],
            mem=p["mem"],
            expected_usage=p["cpu"] * self.config.workload.usage_factor_mean,
            duration_s=p["duration_est_s"],
            now_s=self.now,
            power_model=self.power_model,
            boot_delay_s=h.boot_delay_s,
            idle_timeout_s=h.idle_timeout_s,
        )

    # ---- resumable state --------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly (arrays, rng and source states)."""
        return env_state.snapshot(self)

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state` of an env with the same config and num_envs."""
        env_state.restore(self, state)
