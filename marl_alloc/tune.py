"""`python -m marl_alloc.tune [hydra overrides]`: Population Based Training of the Ape-X policy.

Composes the same config as train plus conf/tune (any train override works, e.g.
`training.total_env_steps=200000 tune.population_size=4`), runs Ray Tune's PBT over the keys in
`tune.space`, prints a table of the trials (final hyperparameters, score) and writes the best
trial's hyperparameters to conf/experiment/<tune.preset_name>.yaml. The last stdout line is
`preset: <path>`; then `python -m marl_alloc.train experiment=<tune.preset_name>` uses them.
"""

import dataclasses
import math
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.interrupts import run_main
from marl_alloc.floor.paths import PROJECT_ROOT
from marl_alloc.floor.settings import Settings, TuneConfig
from marl_alloc.ray_start import start_ray
from marl_alloc.tuning import (
    TrialRow,
    check_keys_exist,
    clip_config,
    flatten,
    format_table,
    hyperparam_mutations,
    param_space,
    parse_space,
    preset_path,
    write_preset,
)

TUNE_GROUP = "+tune=default"
PBT_LOG = "pbt_global.txt"  # one line per exploit, written by Tune's PBT


class NoTrialScored(Exception):
    """Every trial failed before reporting a score (their error.txt files say why)."""


@dataclasses.dataclass(frozen=True)
class TuningOutcome:
    """What a PBT run produced: trials best first by `metric`, the preset, the exploit count and
    Tune's experiment dir."""

    rows: list[TrialRow]
    metric: str
    preset: Path
    perturbations: int
    experiment_path: Path


def _storage_path(configured: str | None) -> Path:
    if configured:
        return Path(configured).resolve()
    return PROJECT_ROOT / "outputs" / "tune" / time.strftime("%Y-%m-%d/%H-%M-%S")


def _count_perturbations(experiment_path: Path) -> int:
    log = experiment_path / PBT_LOG
    return len(log.read_text().splitlines()) if log.is_file() else 0


def build_tuner(settings: Settings, tune_cfg: TuneConfig, params: list) -> Any:
    """A Tuner running PBT over `params`, one ApexTrial per population member."""
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    from marl_alloc.tuning import ApexTrial, trial_resources

    trainable = tune.with_resources(
        tune.with_parameters(
            ApexTrial,
            settings=settings,
            params=params,
            report_every_env_steps=tune_cfg.report_every_env_steps,
            evaluation=tune_cfg.eval,
        ),
        trial_resources(settings, tune_cfg.trial),
    )
    scheduler = PopulationBasedTraining(
        time_attr="env_steps",
        perturbation_interval=tune_cfg.perturbation_interval,
        burn_in_period=tune_cfg.burn_in_period,
        hyperparam_mutations=hyperparam_mutations(params),
        quantile_fraction=tune_cfg.quantile_fraction,
        resample_probability=tune_cfg.resample_probability,
        perturbation_factors=tuple(tune_cfg.perturbation_factors),
        custom_explore_fn=partial(clip_config, params),
    )
    return tune.Tuner(
        trainable,
        param_space=param_space(params),
        tune_config=tune.TuneConfig(
            metric=tune_cfg.metric,
            mode=tune_cfg.mode,
            scheduler=scheduler,
            num_samples=tune_cfg.population_size,
            reuse_actors=tune_cfg.reuse_actors,
            time_budget_s=tune_cfg.time_budget_s,
            max_concurrent_trials=tune_cfg.max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name="pbt",
            storage_path=str(_storage_path(tune_cfg.storage_path)),
            stop={"env_steps": settings.training.total_env_steps},
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=tune_cfg.checkpoints_to_keep, checkpoint_at_end=True
            ),
            verbose=tune_cfg.verbose,
        ),
    )


def run_tuning(settings: Settings, overrides: list[str]) -> TuningOutcome:
    """Run PBT as `settings.tune` says; write the best trial's preset."""
    tune_cfg = settings.tune
    if tune_cfg is None:
        raise UserError("no tune settings: compose with +tune=default")
    # The trials train with the rest; the tune section is this driver's alone.
    settings = dataclasses.replace(settings, tune=None)
    params = parse_space(tune_cfg.space)
    check_keys_exist(params, settings)
    preset = preset_path(tune_cfg.preset_dir, tune_cfg.preset_name)
    metric, mode = tune_cfg.metric, tune_cfg.mode
    start_ray(settings.cluster)
    results = build_tuner(settings, tune_cfg, params).fit()
    experiment_path = Path(results.experiment_path)
    rows = _rows(results, params, metric)
    if not rows:
        raise NoTrialScored(f"no trial reported {metric}; see error.txt in {experiment_path}")
    if results.num_errors:
        print(
            f"warning: {results.num_errors} trial(s) failed, see {experiment_path}", file=sys.stderr
        )
    rows.sort(key=lambda row: row.score, reverse=mode == "max")
    comment = _preset_comment(settings, tune_cfg, overrides, rows[0], experiment_path)
    write_preset(preset, rows[0].values, comment)
    perturbations = _count_perturbations(experiment_path)
    return TuningOutcome(rows, metric, preset, perturbations, experiment_path)


def _preset_comment(
    settings: Settings,
    tune_cfg: TuneConfig,
    overrides: list[str],
    best: TrialRow,
    experiment_path: Path,
) -> list[str]:
    evaluation = tune_cfg.eval
    return [
        f"Tuned {time.strftime('%Y-%m-%d %H:%M')} by Population Based Training:",
        f"  python -m marl_alloc.tune {' '.join(overrides)}".rstrip(),
        f"  population {tune_cfg.population_size},"
        f" {settings.training.total_env_steps} env steps per trial,"
        f" env {settings.env.name}; run dir {experiment_path}",
        f"  best trial {best.name}: {tune_cfg.metric} {best.score:.2f}"
        f" ({tune_cfg.mode} is better) on {evaluation.episodes} greedy episode(s) of"
        f" {evaluation.episode_tasks} tasks, seed {evaluation.seed}",
        "  Values are that trial's final hyperparameters (PBT changes them as it trains).",
    ]


def _rows(results: Any, params: list, metric: str) -> list[TrialRow]:
    rows = []
    for result in results:
        score = (result.metrics or {}).get(metric)
        if result.error is not None or score is None or math.isnan(float(score)):
            continue
        rows.append(
            TrialRow(
                name=str(result.metrics.get("trial_id", "?")),
                values=flatten(params, result.config),
                env_steps=int(result.metrics.get("env_steps", 0)),
                score=float(score),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: Hydra overrides in, table and `preset: PATH` out; exit 2 on bad input."""
    from marl_alloc.floor.settings.compose import compose_settings

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    try:
        outcome = run_tuning(compose_settings([TUNE_GROUP, *argv]), argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NoTrialScored as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    print(format_table(outcome.rows, outcome.metric))
    print(f"perturbations: {outcome.perturbations} (in {outcome.experiment_path / PBT_LOG})")
    print(f"preset: {outcome.preset}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
