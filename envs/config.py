"""EnvConfig: the simulator's settings as frozen dataclasses built from a plain mapping.

`EnvConfig.from_mapping(m)` takes the `env` section of the Hydra config (conf/env/*.yaml, a dict
or an OmegaConf DictConfig); unknown keys and out-of-range values raise one-line EnvConfigErrors.
"""

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from envs.errors import EnvConfigError


@dataclasses.dataclass(frozen=True)
class TopologyConfig:
    """Clusters > racks > leaf groups > hosts, the same fan-out everywhere."""

    num_clusters: int = 1
    racks_per_cluster: int = 3
    leaves_per_rack: int = 4
    hosts_per_leaf: int = 16


@dataclasses.dataclass(frozen=True)
class HostConfig:
    """Host capacities (normalized to the largest machine = 1.0), power and on/off timing."""

    cpu_capacity_choices: tuple[float, ...] = (0.5, 1.0)
    mem_capacity_choices: tuple[float, ...] = (0.5, 1.0)
    # "linear" uses idle/max watts; "ml110_g4" / "ml110_g5" are SPECpower tables as in CloudSim.
    power_model: str = "linear"
    idle_watts: float = 93.7
    max_watts: float = 135.0
    boot_delay_s: float = 30.0
    idle_timeout_s: float = 300.0
    # A host accepts tasks while their CPU requests stay within capacity * cpu_overcommit_max
    # and memory requests within capacity * mem_overcommit (Borg and OpenStack overcommit
    # requests; CPU usage above the physical capacity is overload). How far below the cap to
    # pack is the policy's choice: heuristics named without a packing target ("best-fit"
    # rather than "best-fit@2.0") pack CPU requests up to capacity * cpu_overcommit.
    cpu_overcommit: float = 1.0
    mem_overcommit: float = 1.0
    cpu_overcommit_max: float = 1.0


DURATION_KNOWLEDGE = ("oracle", "estimate", "none")


@dataclasses.dataclass(frozen=True)
class KnowledgeConfig:
    """What a decision may know of a task's run time (observations, duration-aware heuristics
    and the commitment charge alike): `estimate` learns online from the run times of tasks that
    have finished (envs/duration_estimator.py); `oracle` reads the true run time (an ablation
    only); `none` uses no run time at all."""

    durations: str = "estimate"
    # Before any task has finished, the estimate is this median with this log-space spread.
    prior_median_s: float = 600.0
    prior_sigma: float = 1.5
    # Finished tasks a key needs before its own mean weighs as much as its parent level's.
    pseudo_count: float = 2.0


@dataclasses.dataclass(frozen=True)
class UsageConfig:
    """A running task's CPU usage = request * its usage factor * exp(sigma z - sigma^2 / 2), where z
    is an AR(1) process redrawn every period_s (CloudSim's utilization models change every
    scheduling interval, 300 s for the PlanetLab traces)."""

    period_s: float = 300.0
    sigma: float = 0.3
    correlation: float = 0.7  # of z between consecutive periods


@dataclasses.dataclass(frozen=True)
class MigrationConfig:
    """CloudSim's THR-MMT-PABFD: every usage period, tasks leave hosts whose usage exceeds
    overload_threshold * capacity (smallest memory first, as minimum migration time) for the
    host PABFD picks among switched-on hosts they would not push over the threshold."""

    enabled: bool = True
    overload_threshold: float = 0.9
    # A migration takes mem * s_per_mem seconds (memory in units of the largest machine) and
    # costs degradation * the task's CPU usage meanwhile (CloudSim: 10%), which PDM sums.
    s_per_mem: float = 1000.0
    degradation: float = 0.1
    max_per_period: int = 1000  # per datacenter, bounds the work of one period


@dataclasses.dataclass(frozen=True)
class SyntheticWorkloadConfig:
    """Poisson arrivals with diurnal modulation and bursts; lognormal requests and durations."""

    kind: str = "synthetic"
    # Mean arrivals per second including bursts, so rate * duration * cpu is the mean demand.
    arrival_rate_per_s: float = 1.5
    diurnal_amplitude: float = 0.5
    burst_probability: float = 0.02
    burst_size_mean: float = 20.0
    burst_spread_s: float = 10.0
    cpu_request_mean: float = 0.08
    cpu_request_sigma: float = 0.8
    mem_request_mean: float = 0.08
    mem_request_sigma: float = 0.8
    max_request: float = 0.5
    duration_mean_s: float = 600.0
    duration_sigma: float = 1.0
    usage_factor_mean: float = 0.85
    usage_factor_std: float = 0.25
    priority_probs: tuple[float, ...] = (0.3, 0.5, 0.2)
    deferrable_fraction: float = 0.2
    slo_s: float = 300.0
    deferrable_deadline_s: float = 7200.0
    target_utilization: float = 0.5
    # Warm start packs the initial tasks onto this share of hosts; the rest start switched off.
    warm_start_hosts_on: float = 0.75


@dataclasses.dataclass(frozen=True)
class CarbonConfig:
    """Grid carbon intensity: a seeded diurnal series or a CSV (timestamp, intensity)."""

    kind: str = "diurnal"
    mean_g_per_kwh: float = 250.0
    amplitude: float = 0.3
    hourly_noise: float = 0.05
    csv: str | None = None
    column: str | None = None
    unit: str = "g_per_kwh"


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """reward = -(w_sla*overloaded host-hours + w_energy*kWh + w_carbon*kg CO2e
    + w_reject*rejected tasks + w_wait*SLO misses + w_migration*migrations + w_defer*deferrals)
    over each decision cycle's interval."""

    w_sla: float = 200.0
    w_energy: float = 20.0
    w_carbon: float = 20.0
    w_reject: float = 1.0
    w_wait: float = 0.5
    w_migration: float = 0.1
    # The deferred work still has to run after defer_delay_s, beyond a continuing stream's
    # n-step horizon: without a charge now, deferring looks free to a learner.
    w_defer: float = 0.2
    # Training streams only: a placement is charged w_commit x the energy and carbon price of
    # the idle time it commits its host to (envs/commitment.py). Switching a host off pays
    # idle_timeout_s later, beyond what the discounted return sees; 0 = off.
    w_commit: float = 0.0


@dataclasses.dataclass(frozen=True)
class TraceWorkloadConfig:
    """A recorded trace: `sample` mode replays it in each datacenter from a seeded random start,
    thinned to the datacenter's size (training); `cell` mode makes one datacenter the whole
    cell: every machine of the table a host, every task arriving once at its own time, and the
    tasks running at the window's start on their recorded machines (evaluation)."""

    kind: str = "google2011"  # or "azure"
    mode: str = "sample"  # or "cell"
    # Strict reading stops at the first bad row; lenient reads every intact row and counts
    # the rest (the workload's input_rows_dropped).
    lenient: bool = False
    # Raw trace files (task_events parts, or one Azure vmtable) or one prepared tasks.parquet
    # (python -m marl_alloc.prepare); relative paths resolve against the project root.
    tasks: tuple[str, ...] = ()
    # Raw machine_events or a prepared machines.parquet: host capacities are drawn from it;
    # null keeps hosts.cpu/mem_capacity_choices.
    machines: str | None = None
    # Each trace task arrives Poisson(fraction) times; null picks the fraction whose arrivals
    # request target_utilization * load_factor of the datacenter's CPU on average.
    sample_fraction: float | None = None
    load_factor: float = 1.0
    # Traces without measured usage (Google task_events) draw usage factors like the synthetic one.
    usage_factor_mean: float = 0.85
    usage_factor_std: float = 0.25
    deferrable_max_priority: int = 1  # Google: the free tier (priorities 0-1) may be deferred
    cores_per_host: float = 64.0  # Azure: VM cores and memory are normalized by one host's
    mem_gb_per_host: float = 256.0
    duration_seed: int = 0  # draws run times the trace window does not show
    slo_s: float = 300.0
    deferrable_deadline_s: float = 7200.0
    target_utilization: float = 0.5
    warm_start_hosts_on: float = 0.75


WORKLOAD_CONFIGS: dict[str, type] = {
    "synthetic": SyntheticWorkloadConfig,
    "google2011": TraceWorkloadConfig,
    "azure": TraceWorkloadConfig,
}


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Everything one VectorDatacenterEnv needs; every number has a default."""

    name: str = "synthetic"
    num_envs_per_actor: int = 16
    topology: TopologyConfig = TopologyConfig()
    hosts: HostConfig = HostConfig()
    workload: Any = SyntheticWorkloadConfig()
    max_defers: int = 4
    defer_delay_s: float = 900.0
    episode_tasks: int = 1000
    # A finite episode runs on this long after its last arrival, so every policy pays for the
    # same span (deferring work must not lengthen it); null: max_defers * defer_delay_s, the
    # latest a deferred task can come back.
    episode_tail_s: float | None = None
    forecast_horizon: int = 4
    # Longest stretch integrated with one piecewise-constant host state (sparse arrivals).
    max_integration_step_s: float = 60.0
    usage: UsageConfig = UsageConfig()
    migration: MigrationConfig = MigrationConfig()
    carbon: CarbonConfig = CarbonConfig()
    reward: RewardConfig = RewardConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()

    @classmethod
    def from_mapping(cls, mapping: "Mapping | EnvConfig | None") -> "EnvConfig":
        """Build from a (possibly partial) mapping; unknown keys raise EnvConfigError."""
        if isinstance(mapping, EnvConfig):
            return mapping
        mapping = dict(mapping or {})
        kind = dict(mapping.get("workload") or {}).get("kind", "synthetic")
        if kind not in WORKLOAD_CONFIGS:
            known = ", ".join(sorted(WORKLOAD_CONFIGS))
            raise EnvConfigError(f"unknown env.workload.kind '{kind}' (choose one of: {known})")
        config = _build(cls, mapping, "env", {"workload": WORKLOAD_CONFIGS[kind]})
        _validate(config)
        return config

    @property
    def resolved_episode_tail_s(self) -> float:
        """How long a finite episode runs on after its last arrival (episode_tail_s or its
        default)."""
        if self.episode_tail_s is not None:
            return float(self.episode_tail_s)
        return float(self.max_defers * self.defer_delay_s)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), e.g. to store next to a checkpoint."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, mapping: Mapping, path: str, overrides: dict[str, type] | None = None):
    if not isinstance(mapping, Mapping):
        raise EnvConfigError(f"{path} must be a mapping, got {type(mapping).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in mapping:
        if key not in names:
            raise EnvConfigError(
                f"unknown env config key '{path}.{key}' (known: {', '.join(sorted(names))})"
            )
    values = {}
    for key, raw in mapping.items():
        kind = (overrides or {}).get(key, hints[key])
        values[key] = _convert(kind, raw, f"{path}.{key}")
    return cls(**values)


def _convert(kind: Any, raw: Any, path: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, raw, path)
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        if raw is None:
            return None
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return _convert(inner, raw, path)
    try:
        if origin is tuple:
            (item, _) = typing.get_args(kind)
            if isinstance(raw, str) and item is str:
                return (raw,)
            if isinstance(raw, str | bytes) or not hasattr(raw, "__iter__"):
                raise TypeError
            return tuple(item(v) for v in raw)
        if kind is bool:
            if not isinstance(raw, bool):
                raise TypeError
            return raw
        if kind is int:
            if isinstance(raw, bool) or float(raw) != int(raw):
                raise TypeError
            return int(raw)
        if kind is float:
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)
        if kind is str:
            if not isinstance(raw, str):
                raise TypeError
            return raw
    except (TypeError, ValueError):
        name = getattr(kind, "__name__", str(kind))
        raise EnvConfigError(f"env config '{path}' must be {name}, got {raw!r}") from None
    return raw


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise EnvConfigError(message)


def _validate(c: EnvConfig) -> None:
    t = c.topology
    for key in ("num_clusters", "racks_per_cluster", "leaves_per_rack", "hosts_per_leaf"):
        _require(getattr(t, key) > 0, f"env.topology.{key} must be > 0")
    h = c.hosts
    _require(
        len(h.cpu_capacity_choices) > 0 and min(h.cpu_capacity_choices) > 0,
        "env.hosts.cpu_capacity_choices must list positive capacities",
    )
    _require(
        len(h.mem_capacity_choices) > 0 and min(h.mem_capacity_choices) > 0,
        "env.hosts.mem_capacity_choices must list positive capacities",
    )
    _require(0 <= h.idle_watts <= h.max_watts, "env.hosts needs 0 <= idle_watts <= max_watts")
    _require(h.boot_delay_s >= 0 and h.idle_timeout_s >= 0, "env.hosts delays must be >= 0")
    _require(
        h.cpu_overcommit >= 1 and h.mem_overcommit >= 1, "env.hosts overcommit ratios must be >= 1"
    )
    _require(
        h.cpu_overcommit_max >= h.cpu_overcommit,
        "env.hosts.cpu_overcommit_max (the hard cap) must be >= cpu_overcommit",
    )
    k = c.knowledge
    _require(
        k.durations in DURATION_KNOWLEDGE,
        f"env.knowledge.durations must be one of {', '.join(DURATION_KNOWLEDGE)}",
    )
    _require(
        k.prior_median_s > 0 and k.prior_sigma > 0 and k.pseudo_count > 0,
        "env.knowledge needs prior_median_s, prior_sigma and pseudo_count > 0",
    )
    u, m = c.usage, c.migration
    _require(u.period_s > 0 and u.sigma >= 0, "env.usage needs period_s > 0 and sigma >= 0")
    _require(0 <= u.correlation <= 1, "env.usage.correlation must be in [0, 1]")
    _require(m.overload_threshold > 0, "env.migration.overload_threshold must be > 0")
    _require(
        m.s_per_mem >= 0 and 0 <= m.degradation <= 1,
        "env.migration needs s_per_mem >= 0 and degradation in [0, 1]",
    )
    _require(m.max_per_period >= 0, "env.migration.max_per_period must be >= 0")
    _require(c.reward.w_commit >= 0, "env.reward.w_commit must be >= 0")
    _require(c.max_defers >= 0, "env.max_defers must be >= 0")
    _require(c.defer_delay_s > 0, "env.defer_delay_s must be > 0")
    _require(c.episode_tasks > 0, "env.episode_tasks must be > 0")
    _require(c.episode_tail_s is None or c.episode_tail_s >= 0, "env.episode_tail_s must be >= 0")
    _require(c.forecast_horizon >= 0, "env.forecast_horizon must be >= 0")
    _require(c.max_integration_step_s > 0, "env.max_integration_step_s must be > 0")
    _require(c.carbon.kind in ("diurnal", "csv"), "env.carbon.kind must be 'diurnal' or 'csv'")
    if isinstance(c.workload, SyntheticWorkloadConfig):
        w = c.workload
        _require(w.arrival_rate_per_s > 0, "env.workload.arrival_rate_per_s must be > 0")
        _require(0 <= w.diurnal_amplitude < 1, "env.workload.diurnal_amplitude must be in [0, 1)")
        _require(0 <= w.burst_probability <= 1, "env.workload.burst_probability must be in [0, 1]")
        _require(
            0 < w.cpu_request_mean <= w.max_request and 0 < w.mem_request_mean <= w.max_request,
            "env.workload request means must be in (0, max_request]",
        )
        _require(w.duration_mean_s > 0, "env.workload.duration_mean_s must be > 0")
        _require(
            len(w.priority_probs) > 0 and abs(sum(w.priority_probs) - 1.0) < 1e-6,
            "env.workload.priority_probs must sum to 1",
        )
    w = c.workload
    _require(
        0 <= w.target_utilization < h.cpu_overcommit_max,
        "env.workload.target_utilization must be in [0, hosts.cpu_overcommit_max)",
    )
    _require(0 < w.warm_start_hosts_on <= 1, "env.workload.warm_start_hosts_on must be in (0, 1]")
    _require(w.usage_factor_mean > 0, "env.workload.usage_factor_mean must be > 0")
    if isinstance(w, TraceWorkloadConfig):
        _require(
            len(w.tasks) > 0,
            f"env.workload.tasks names no file; list the {w.kind} trace files or a tasks.parquet",
        )
        _require(
            w.sample_fraction is None or w.sample_fraction > 0,
            "env.workload.sample_fraction must be > 0 or null",
        )
        _require(w.load_factor > 0, "env.workload.load_factor must be > 0")
        _require(w.mode in ("sample", "cell"), "env.workload.mode must be 'sample' or 'cell'")
