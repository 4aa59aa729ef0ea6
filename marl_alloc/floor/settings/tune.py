"""The `tune` group (conf/tune/default.yaml): Population Based Training of the policy."""

import dataclasses
from typing import Any

from marl_alloc.floor.settings.checks import require_all


@dataclasses.dataclass
class TuneEvalConfig:
    """The greedy episodes a trial is scored on: seeds no env actor trains on, the same for
    every trial."""

    episodes: int = 2
    episode_tasks: int = 200
    seed: int = 12345


@dataclasses.dataclass
class TrialConfig:
    """What one trial's Tune actor reserves."""

    cpus: float = 1.0
    gpus: float = 0.0


@dataclasses.dataclass
class TuneConfig:
    """PBT over `space`: every `perturbation_interval` env steps a trial in the bottom
    `quantile_fraction` copies a top trial's checkpoint (exploit) and explores its config: each
    key resampled with `resample_probability`, else multiplied by one of
    `perturbation_factors` (a choice moves to a neighbour) and clipped to the key's range."""

    population_size: int = 2
    time_budget_s: float | None = None  # the whole run; null = none
    max_concurrent_trials: int | None = None
    report_every_env_steps: int = 5000  # trials report (and are scored) this often
    perturbation_interval: int = 10_000
    burn_in_period: int = 0
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    perturbation_factors: list[float] = dataclasses.field(default_factory=lambda: [1.2, 0.8])
    # The score PBT ranks trials by: the greedy policy's total cost on `eval` (lower is better).
    metric: str = "eval_total_cost"
    mode: str = "min"
    eval: TuneEvalConfig = dataclasses.field(default_factory=TuneEvalConfig)
    # Config keys to search, a tree that mirrors the config: {distribution: loguniform|uniform,
    # low, high} or {distribution: choice, values: [...]} (marl_alloc.tuning.space).
    space: dict[str, Any] = dataclasses.field(default_factory=dict)
    trial: TrialConfig = dataclasses.field(default_factory=TrialConfig)
    reuse_actors: bool = True  # keep a Tune actor when PBT changes its trial's config
    checkpoints_to_keep: int = 4
    storage_path: str | None = None  # Tune's run dir; null: outputs/tune/DATE/TIME
    # The best trial's hyperparameters go to PRESET_DIR/PRESET_NAME.yaml, so that
    # `python -m marl_alloc.train experiment=PRESET_NAME` trains with them.
    preset_dir: str = "conf/experiment"
    preset_name: str = "tuned"
    verbose: int = 1

    def __post_init__(self):
        require_all(
            [
                (self.population_size >= 2, "tune.population_size must be >= 2"),
                (self.report_every_env_steps > 0, "tune.report_every_env_steps must be > 0"),
                (self.perturbation_interval > 0, "tune.perturbation_interval must be > 0"),
                (self.burn_in_period >= 0, "tune.burn_in_period must be >= 0"),
                (0 < self.quantile_fraction <= 0.5, "tune.quantile_fraction must be in (0, 0.5]"),
                (
                    0 <= self.resample_probability <= 1,
                    "tune.resample_probability must be in [0, 1]",
                ),
                (self.mode in ("min", "max"), "tune.mode must be min or max"),
                (self.eval.episodes > 0, "tune.eval.episodes must be > 0"),
                (self.eval.episode_tasks > 0, "tune.eval.episode_tasks must be > 0"),
                (self.trial.cpus >= 0 and self.trial.gpus >= 0, "tune.trial needs cpus, gpus >= 0"),
                (self.checkpoints_to_keep >= 1, "tune.checkpoints_to_keep must be >= 1"),
            ]
        )
