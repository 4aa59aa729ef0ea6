"""The `env` group (conf/env/*.yaml): the simulator's settings, one schema per workload shape.

SyntheticEnvConfig (conf/env/synthetic.yaml) and TraceEnvConfig (google2011.yaml, azure.yaml)
share every section but the workload. `EnvConfig.from_mapping(m)` picks the shape from
`m["workload"]["kind"]`, for callers that build an env from a plain mapping.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from omegaconf import MISSING

from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.settings.checks import require, require_all
from marl_alloc.floor.settings.structured import from_mapping

SYNTHETIC = "synthetic"
TRACE_KINDS = ("google2011", "azure")
TRACE_MODES = ("sample", "cell")


@dataclasses.dataclass
class TopologyConfig:
    """Clusters > racks > leaf groups > hosts, the same fan-out everywhere."""

    num_clusters: int = 1
    racks_per_cluster: int = 3
    leaves_per_rack: int = 4
    hosts_per_leaf: int = 16

    def __post_init__(self):
        for key in ("num_clusters", "racks_per_cluster", "leaves_per_rack", "hosts_per_leaf"):
            require(getattr(self, key) > 0, f"env.topology.{key} must be > 0")


@dataclasses.dataclass
class HostConfig:
    """Host capacities (normalized to the largest machine = 1.0), power and on/off timing."""

    cpu_capacity_choices: list[float] = dataclasses.field(default_factory=lambda: [0.5, 1.0])
    mem_capacity_choices: list[float] = dataclasses.field(default_factory=lambda: [0.5, 1.0])
    # "linear" uses idle/max watts; "ml110_g4" / "ml110_g5" are SPECpower tables as in CloudSim.
    power_model: str = "linear"
    idle_watts: float = 93.7
    max_watts: float = 135.0
    boot_delay_s: float = 30.0
    idle_timeout_s: float = 300.0  # an empty host switches off after this long
    # A host accepts tasks while their CPU requests stay within capacity * cpu_overcommit_max
    # and memory requests within capacity * mem_overcommit (Borg and OpenStack overcommit
    # requests; CPU usage above the physical capacity is overload). How far below the cap to
    # pack is the policy's choice: heuristics named without a packing target ("best-fit"
    # rather than "best-fit@2.0") pack CPU requests up to capacity * cpu_overcommit.
    cpu_overcommit: float = 1.0
    mem_overcommit: float = 1.0
    cpu_overcommit_max: float = 1.0

    def __post_init__(self):
        require_all(
            [
                (
                    len(self.cpu_capacity_choices) > 0 and min(self.cpu_capacity_choices) > 0,
                    "env.hosts.cpu_capacity_choices must list positive capacities",
                ),
                (
                    len(self.mem_capacity_choices) > 0 and min(self.mem_capacity_choices) > 0,
                    "env.hosts.mem_capacity_choices must list positive capacities",
                ),
                (
                    0 <= self.idle_watts <= self.max_watts,
                    "env.hosts needs 0 <= idle_watts <= max_watts",
                ),
                (
                    self.boot_delay_s >= 0 and self.idle_timeout_s >= 0,
                    "env.hosts delays must be >= 0",
                ),
                (
                    self.cpu_overcommit >= 1 and self.mem_overcommit >= 1,
                    "env.hosts overcommit ratios must be >= 1",
                ),
                (
                    self.cpu_overcommit_max >= self.cpu_overcommit,
                    "env.hosts.cpu_overcommit_max (the hard cap) must be >= cpu_overcommit",
                ),
            ]
        )


POWER_MANAGERS = ("timeout", "forecast")


@dataclasses.dataclass
class PowerConfig:
    """Who switches hosts on and off. `timeout`: a host wakes when a task is placed on it and
    switches off after hosts.idle_timeout_s empty. `forecast` (envs/power_manager.py): every
    period_s, each leaf group also keeps on (or boots) enough hosts for its requested CPU and the
    demand its forecast slots expect, times 1 + headroom; hosts it keeps skip the idle timer."""

    manager: str = "timeout"
    period_s: float = 60.0
    headroom: float = 0.1

    def __post_init__(self):
        require_all(
            [
                (
                    self.manager in POWER_MANAGERS,
                    f"env.power.manager must be one of {', '.join(POWER_MANAGERS)}",
                ),
                (self.period_s > 0, "env.power.period_s must be > 0"),
                (self.headroom >= 0, "env.power.headroom must be >= 0"),
            ]
        )


DURATION_KNOWLEDGE = ("oracle", "estimate", "none")
# Who fills the observations' demand forecast slots: the policy's forecaster (zeros without one)
# or the true future demand (envs/oracle_forecast.py; an ablation only: the forecasts' ceiling).
DEMAND_FORECASTS = ("policy", "oracle")
# The host usage the overcommit features, PABFD's overload check and the overload charge read:
# the measured one now, a causal forecast from each running task's observed usage
# (envs/usage_forecast.py), or the true expected usage (an ablation only: the ceiling).
HOST_USAGE_KNOWLEDGE = ("current", "forecast", "oracle")


@dataclasses.dataclass
class KnowledgeConfig:
    """What a decision may know of a task's run time (observations, duration-aware heuristics
    and the commitment charge alike): `estimate` learns online from the run times of tasks that
    have finished (envs/duration_estimator.py); `oracle` reads the true run time (an ablation
    only); `none` uses no run time at all. `demand_forecast` says who fills the forecast slots
    (`oracle`: the true future demand, an ablation only). `host_usage` is the host usage the
    overcommit decisions read (HOST_USAGE_KNOWLEDGE, envs/usage_forecast.py)."""

    durations: str = "estimate"
    # Before any task has finished, the estimate is this median with this log-space spread.
    prior_median_s: float = 600.0
    prior_sigma: float = 1.5
    # Finished tasks a key needs before its own mean weighs as much as its parent level's.
    pseudo_count: float = 2.0
    demand_forecast: str = "policy"
    oracle_bin_s: float = 10.0  # the oracle's forecast bins (model.forecaster.resolution_s's)
    host_usage: str = "current"
    # host_usage=forecast|oracle: the mean usage over the next usage_horizon usage periods; a
    # task's observed mean weighs as much as the workload's mean usage factor after
    # usage_prior_weight periods, and its last value persists by usage_persistence per period.
    usage_horizon: int = 3
    usage_prior_weight: float = 2.0
    usage_persistence: float = 0.7

    def __post_init__(self):
        require_all(
            [
                (
                    self.durations in DURATION_KNOWLEDGE,
                    f"env.knowledge.durations must be one of {', '.join(DURATION_KNOWLEDGE)}",
                ),
                (
                    self.demand_forecast in DEMAND_FORECASTS,
                    f"env.knowledge.demand_forecast must be one of {', '.join(DEMAND_FORECASTS)}",
                ),
                (self.oracle_bin_s > 0, "env.knowledge.oracle_bin_s must be > 0"),
                (
                    self.host_usage in HOST_USAGE_KNOWLEDGE,
                    f"env.knowledge.host_usage must be one of {', '.join(HOST_USAGE_KNOWLEDGE)}",
                ),
                (
                    self.usage_horizon >= 1 and self.usage_prior_weight > 0,
                    "env.knowledge needs usage_horizon >= 1 and usage_prior_weight > 0",
                ),
                (
                    0 <= self.usage_persistence <= 1,
                    "env.knowledge.usage_persistence must be in [0, 1]",
                ),
                (
                    self.prior_median_s > 0 and self.prior_sigma > 0 and self.pseudo_count > 0,
                    "env.knowledge needs prior_median_s, prior_sigma and pseudo_count > 0",
                ),
            ]
        )


@dataclasses.dataclass
class UsageConfig:
    """A running task's CPU usage = request * its usage factor * exp(sigma z - sigma^2 / 2), where z
    is an AR(1) process redrawn every period_s (CloudSim's utilization models change every
    scheduling interval, 300 s for the PlanetLab traces)."""

    period_s: float = 300.0
    sigma: float = 0.3
    correlation: float = 0.7  # of z between consecutive periods

    def __post_init__(self):
        require(
            self.period_s > 0 and self.sigma >= 0, "env.usage needs period_s > 0 and sigma >= 0"
        )
        require(0 <= self.correlation <= 1, "env.usage.correlation must be in [0, 1]")


@dataclasses.dataclass
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

    def __post_init__(self):
        require(self.overload_threshold > 0, "env.migration.overload_threshold must be > 0")
        require(
            self.s_per_mem >= 0 and 0 <= self.degradation <= 1,
            "env.migration needs s_per_mem >= 0 and degradation in [0, 1]",
        )
        require(self.max_per_period >= 0, "env.migration.max_per_period must be >= 0")


CARBON_FORECASTS = ("none", "causal", "oracle")


# Hashable (its fields are scalars): the env caches the series a CSV config reads.
@dataclasses.dataclass(unsafe_hash=True)
class CarbonConfig:
    """Grid carbon intensity: a seeded diurnal series or a CSV (timestamp, intensity)."""

    kind: str = "diurnal"  # or csv
    mean_g_per_kwh: float = 250.0
    amplitude: float = 0.3
    hourly_noise: float = 0.05
    csv: str | None = None  # first column timestamps, `column` (default: the second) intensity
    column: str | None = None
    unit: str = "g_per_kwh"  # g_per_kwh, kg_per_mwh or lbs_per_mwh (WattTime)
    # The intensity a deferral would meet, as observation features (envs/carbon.py): none (not
    # observed), causal (forecast from the series up to now) or oracle (the true future; an
    # ablation only).
    forecast: str = "none"
    # Days of history whose same-hour change the causal forecast averages (WattTime CAISO North,
    # June 2023: the 1 h change's correlation with it is 0.06 for one day, 0.17 for seven).
    forecast_days: int = 7

    def __post_init__(self):
        require(self.kind in ("diurnal", "csv"), "env.carbon.kind must be 'diurnal' or 'csv'")
        require(self.forecast_days >= 1, "env.carbon.forecast_days must be >= 1")
        require(
            self.forecast in CARBON_FORECASTS,
            f"env.carbon.forecast must be one of {', '.join(CARBON_FORECASTS)}",
        )


@dataclasses.dataclass
class RewardConfig:
    """reward = -(w_sla*overloaded host-hours + w_energy*kWh + w_carbon*kg CO2e
    + w_reject*rejected tasks + w_wait*SLO misses + w_migration*migrations + w_defer*deferrals)
    over each decision cycle's interval."""

    w_sla: float = 200.0
    w_energy: float = 20.0
    w_carbon: float = 20.0
    w_reject: float = 1.0
    w_wait: float = 0.5
    w_migration: float = 0.1  # a migration's SLA cost (PDM)
    # The deferred work still has to run after defer_delay_s, beyond a continuing stream's
    # n-step horizon: without a charge now, deferring looks free to a learner.
    w_defer: float = 0.2
    # Training streams only: a placement is charged w_commit x the energy and carbon price of
    # the idle time it commits its host to and the w_sla price of the overload it commits it to
    # (envs/commitment.py); both show beyond what the discounted return sees; 0 = off.
    w_commit: float = 1.0

    def __post_init__(self):
        # Each weight prices a cost; a negative one would pay the policy for causing it.
        for field in dataclasses.fields(self):
            weight = getattr(self, field.name)
            require(weight >= 0, f"env.reward.{field.name} must be >= 0, got {weight}")


@dataclasses.dataclass
class WorkloadConfig:
    """What every workload shares: how tasks use what they request and when they miss their
    SLO, and how the datacenter is warm-started."""

    kind: str = MISSING
    # Actual CPU usage = request * factor (lognormal); traces without measured usage (Google
    # task_events) draw it too. Factors above 1 overload tightly packed hosts.
    usage_factor_mean: float = 0.85
    usage_factor_std: float = 0.25
    slo_s: float = 300.0  # a task waiting longer than this to start misses its SLO
    deferrable_deadline_s: float = 7200.0  # ... a deferrable one, this long after arrival
    # Warm start: share of CPU capacity requested at reset (sample mode: by the arrivals).
    target_utilization: float = 0.5
    # Warm start packs the initial tasks onto this share of hosts; the rest start switched off.
    warm_start_hosts_on: float = 0.75

    def __post_init__(self):
        require(
            0 < self.warm_start_hosts_on <= 1, "env.workload.warm_start_hosts_on must be in (0, 1]"
        )
        require(self.usage_factor_mean > 0, "env.workload.usage_factor_mean must be > 0")


@dataclasses.dataclass
class SyntheticWorkloadConfig(WorkloadConfig):
    """Poisson arrivals with diurnal modulation and bursts; lognormal requests and durations."""

    kind: str = SYNTHETIC
    # Mean arrivals per second including bursts, so rate * duration * cpu is the mean demand.
    arrival_rate_per_s: float = 1.5
    diurnal_amplitude: float = 0.5  # rate * (1 + a cos(2 pi (hour - 14) / 24))
    burst_probability: float = 0.02  # per arrival, opens a burst of Poisson(burst_size_mean)
    burst_size_mean: float = 20.0
    burst_spread_s: float = 10.0
    cpu_request_mean: float = 0.08  # lognormal, clipped to max_request
    cpu_request_sigma: float = 0.8
    mem_request_mean: float = 0.08
    mem_request_sigma: float = 0.8
    max_request: float = 0.5
    duration_mean_s: float = 600.0  # lognormal
    duration_sigma: float = 1.0
    priority_probs: list[float] = dataclasses.field(default_factory=lambda: [0.3, 0.5, 0.2])
    deferrable_fraction: float = 0.2

    def __post_init__(self):
        super().__post_init__()
        require_all(
            [
                (self.kind == SYNTHETIC, f"env.workload.kind of a synthetic env is {SYNTHETIC}"),
                (self.arrival_rate_per_s > 0, "env.workload.arrival_rate_per_s must be > 0"),
                (
                    0 <= self.diurnal_amplitude < 1,
                    "env.workload.diurnal_amplitude must be in [0, 1)",
                ),
                (
                    0 <= self.burst_probability <= 1,
                    "env.workload.burst_probability must be in [0, 1]",
                ),
                (
                    0 < self.cpu_request_mean <= self.max_request
                    and 0 < self.mem_request_mean <= self.max_request,
                    "env.workload request means must be in (0, max_request]",
                ),
                (self.duration_mean_s > 0, "env.workload.duration_mean_s must be > 0"),
                (
                    len(self.priority_probs) > 0 and abs(sum(self.priority_probs) - 1.0) < 1e-6,
                    "env.workload.priority_probs must sum to 1",
                ),
            ]
        )


@dataclasses.dataclass
class TraceWorkloadConfig(WorkloadConfig):
    """A recorded trace: `sample` mode replays it in each datacenter from a seeded random start,
    thinned to the datacenter's size (training); `cell` mode makes one datacenter the whole
    cell: every machine of the table a host, every task arriving once at its own time, and the
    tasks running at the window's start on their recorded machines (evaluation)."""

    kind: str = "google2011"  # or azure
    mode: str = "sample"  # or cell
    # Strict reading stops at the first bad row; lenient reads every intact row and counts
    # the rest (the workload's input_rows_dropped).
    lenient: bool = False
    # Raw trace files (task_events parts, or one Azure vmtable) or one prepared tasks.parquet
    # (python -m marl_alloc.prepare); relative paths resolve against the project root.
    tasks: list[str] = dataclasses.field(default_factory=list)
    # Raw machine_events or a prepared machines.parquet: host capacities are drawn from it;
    # null keeps hosts.cpu/mem_capacity_choices.
    machines: str | None = None
    # Each trace task arrives Poisson(fraction) times; null picks the fraction whose arrivals
    # request target_utilization * load_factor of the datacenter's CPU on average.
    sample_fraction: float | None = None
    load_factor: float = 1.0
    # Sample mode: every datacenter's replay starts at this arrival (0: the trace's first, in
    # time order), as the benchmark's windows do; null: at a seeded random one each.
    start_row: int | None = None
    deferrable_max_priority: int = 1  # Google: the free tier (priorities 0-1) may be deferred
    cores_per_host: float = 64.0  # Azure: VM cores and memory are normalized by one host's
    mem_gb_per_host: float = 256.0
    duration_seed: int = 0  # draws run times the trace window does not show

    def __post_init__(self):
        super().__post_init__()
        require_all(
            [
                (
                    self.kind in TRACE_KINDS,
                    f"env.workload.kind of a trace env is one of {', '.join(TRACE_KINDS)}",
                ),
                (
                    self.sample_fraction is None or self.sample_fraction > 0,
                    "env.workload.sample_fraction must be > 0 or null",
                ),
                (self.load_factor > 0, "env.workload.load_factor must be > 0"),
                (self.mode in TRACE_MODES, "env.workload.mode must be 'sample' or 'cell'"),
                (
                    self.start_row is None or (self.start_row >= 0 and self.mode == "sample"),
                    "env.workload.start_row must be >= 0, in sample mode (or null)",
                ),
            ]
        )


@dataclasses.dataclass
class EnvConfig:
    """Everything one VectorDatacenterEnv needs but the workload's shape (see the subclasses)."""

    name: str = SYNTHETIC
    num_envs_per_actor: int = 16
    topology: TopologyConfig = dataclasses.field(default_factory=TopologyConfig)
    hosts: HostConfig = dataclasses.field(default_factory=HostConfig)
    workload: WorkloadConfig = MISSING
    max_defers: int = 4
    defer_delay_s: float = 900.0
    episode_tasks: int = 1000  # finite (evaluation) episodes; training streams are endless
    # A finite episode runs on this long after its last arrival, so every policy pays for the
    # same span (deferring work must not lengthen it); null: max_defers * defer_delay_s, the
    # latest a deferred task can come back.
    episode_tail_s: float | None = None
    forecast_horizon: int = 4  # forecast slots per leaf group in the observations
    # Longest stretch integrated with one piecewise-constant host state (sparse arrivals).
    max_integration_step_s: float = 60.0
    usage: UsageConfig = dataclasses.field(default_factory=UsageConfig)
    migration: MigrationConfig = dataclasses.field(default_factory=MigrationConfig)
    carbon: CarbonConfig = dataclasses.field(default_factory=CarbonConfig)
    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    knowledge: KnowledgeConfig = dataclasses.field(default_factory=KnowledgeConfig)
    power: PowerConfig = dataclasses.field(default_factory=PowerConfig)

    def __post_init__(self):
        require_all(
            [
                (self.num_envs_per_actor > 0, "env.num_envs_per_actor must be > 0"),
                (self.max_defers >= 0, "env.max_defers must be >= 0"),
                (self.defer_delay_s > 0, "env.defer_delay_s must be > 0"),
                (self.episode_tasks > 0, "env.episode_tasks must be > 0"),
                (
                    self.episode_tail_s is None or self.episode_tail_s >= 0,
                    "env.episode_tail_s must be >= 0",
                ),
                (self.forecast_horizon >= 0, "env.forecast_horizon must be >= 0"),
                (self.max_integration_step_s > 0, "env.max_integration_step_s must be > 0"),
            ]
        )
        if isinstance(self.workload, WorkloadConfig):
            require(
                0 <= self.workload.target_utilization < self.hosts.cpu_overcommit_max,
                "env.workload.target_utilization must be in [0, hosts.cpu_overcommit_max)",
            )

    @classmethod
    def from_mapping(cls, mapping: "Mapping[str, Any] | EnvConfig | None") -> "EnvConfig":
        """The env settings of a (possibly partial) mapping, as the schema its workload kind
        names (synthetic when none); unknown keys and bad values raise one-line ConfigErrors."""
        if isinstance(mapping, EnvConfig):
            return mapping
        mapping = mapping or {}
        workload = mapping.get("workload") or {}
        kind = workload.get("kind", SYNTHETIC) if isinstance(workload, Mapping) else SYNTHETIC
        return from_mapping(env_schema(kind), mapping, "env")

    @property
    def resolved_episode_tail_s(self) -> float:
        """How long a finite episode runs on after its last arrival (episode_tail_s or its
        default)."""
        if self.episode_tail_s is not None:
            return float(self.episode_tail_s)
        return float(self.max_defers * self.defer_delay_s)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, e.g. to store next to a checkpoint."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SyntheticEnvConfig(EnvConfig):
    """The simulator on the synthetic diurnal + bursty workload (conf/env/synthetic.yaml)."""

    workload: SyntheticWorkloadConfig = dataclasses.field(default_factory=SyntheticWorkloadConfig)


@dataclasses.dataclass
class TraceEnvConfig(EnvConfig):
    """The simulator replaying a recorded trace (conf/env/google2011.yaml, azure.yaml)."""

    name: str = "google2011"
    workload: TraceWorkloadConfig = dataclasses.field(default_factory=TraceWorkloadConfig)

    def __post_init__(self):
        super().__post_init__()
        # Checked here, not by the workload: the schema's default workload names no file yet.
        require(
            len(self.workload.tasks) > 0,
            f"env.workload.tasks names no file; list the {self.workload.kind} trace files or a "
            "tasks.parquet",
        )


def env_schema(kind: str) -> type[EnvConfig]:
    """The env schema of a workload kind; an unknown kind is a ConfigError."""
    if kind == SYNTHETIC:
        return SyntheticEnvConfig
    if kind in TRACE_KINDS:
        return TraceEnvConfig
    known = ", ".join(sorted((SYNTHETIC, *TRACE_KINDS)))
    raise ConfigError(f"unknown env.workload.kind '{kind}' (choose one of: {known})")
