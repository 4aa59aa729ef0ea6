"""`python -m marl_alloc.train [hydra overrides]`: train the policy Ape-X style, save a checkpoint.

The last stdout line is `checkpoint: <absolute dir>`; progress goes to stderr. The run directory
holds `checkpoint/` (rewritten every `training.checkpoint_every_s`), `replay/` (the shards'
snapshots) and `progress.jsonl`; `python -m marl_alloc.train resume=RUN_DIR [overrides]` continues
such a run with its settings, learner, replay and counters (overrides win, e.g. a larger
`training.total_env_steps`).
"""

import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from marl_alloc.floor.errors import ConfigError, UserError
from marl_alloc.floor.interrupts import exit_code, run_main, signal_name
from marl_alloc.floor.settings import CONFIG_FILE, Settings
from marl_alloc.floor.settings.compose import compose_settings, register_schemas
from marl_alloc.floor.settings.structured import to_object
from marl_alloc.ray_start import quiet_unactionable_logs

CHECKPOINT = "checkpoint"
REPLAY = "replay"
# What Hydra writes into the run dir itself before the run starts (its config copy, its log).
HYDRA_OWN = (".hydra", "train.log")


def run_paths(settings: Settings, run_dir: Path) -> tuple[Settings, Path]:
    """Settings with the checkpoint and replay snapshot dirs set (in the run dir unless given),
    and the run dir itself, which is the resumed run's when `resume` is set."""
    if settings.resume:
        run_dir = Path(settings.resume)
    run_dir = run_dir.resolve()
    checkpoint_dir = Path(settings.training.checkpoint_dir or run_dir / CHECKPOINT).resolve()
    training = dataclasses.replace(settings.training, checkpoint_dir=str(checkpoint_dir))
    replay = settings.replay
    if replay.snapshot_dir is None:
        replay = dataclasses.replace(replay, snapshot_dir=str(run_dir / REPLAY))
    return dataclasses.replace(settings, training=training, replay=replay), run_dir


def require_fresh_run_dir(settings: Settings, run_dir: Path) -> None:
    """A run that does not resume must not find a previous run's files: it would reuse its
    replay and overwrite its checkpoint and progress log."""
    found = (
        [p.name for p in run_dir.iterdir() if p.name not in HYDRA_OWN] if run_dir.is_dir() else []
    )
    for kept in (settings.training.checkpoint_dir, settings.replay.snapshot_dir):
        path = Path(kept)
        if path.is_dir() and not path.is_relative_to(run_dir) and any(path.iterdir()):
            found.append(str(path))
    if found:
        raise UserError(
            f"run dir {run_dir} is not empty ({', '.join(sorted(found)[:3])}): continue that run "
            f"with resume={run_dir}, or start a new one with hydra.run.dir=NEW_DIR"
        )


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The checkpoint, or the previous one when a save was cut off between its two renames."""
    for path in (checkpoint_dir, checkpoint_dir.with_name(checkpoint_dir.name + ".old")):
        if (path / CONFIG_FILE).is_file():
            return path
    return None


def save_checkpoint(algo, checkpoint_dir: Path, settings: Settings) -> Path:
    """RLlib checkpoint plus our settings, replacing the previous one only once it is whole."""
    staging = checkpoint_dir.with_name(checkpoint_dir.name + ".tmp")
    previous = checkpoint_dir.with_name(checkpoint_dir.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    algo.save_to_path(str(staging))
    settings.save(staging / CONFIG_FILE)
    shutil.rmtree(previous, ignore_errors=True)
    if checkpoint_dir.exists():
        checkpoint_dir.rename(previous)
    staging.rename(checkpoint_dir)
    shutil.rmtree(previous, ignore_errors=True)
    return checkpoint_dir


def resumed_settings(resume_dir: str, overrides: Sequence[str]) -> Settings:
    """The resumed run's saved settings with this command's overrides applied on top."""
    run_dir = Path(resume_dir).resolve()
    checkpoint = latest_checkpoint(run_dir / CHECKPOINT)
    if checkpoint is None:
        raise UserError(f"resume={resume_dir}: no {CHECKPOINT}/{CONFIG_FILE} in that run dir")
    extra = [o for o in overrides if not o.startswith(("resume=", "hydra."))]
    settings = Settings.load(checkpoint / CONFIG_FILE, [*extra, f"resume={run_dir}"])
    saved = Settings.load(checkpoint / CONFIG_FILE, [])
    changed = [
        f"{key} ({before} -> {after})"
        for section in SHAPING
        for key, before, after in _differences(section, saved, settings)
    ]
    if changed:
        raise UserError(
            f"resume={resume_dir}: {', '.join(changed)} changed, but the checkpoint's networks"
            " are sized for the run's own; drop that override, or start a new run in a new dir"
        )
    return settings


# Settings that size the networks (observations, actions, layers): fixed for a resumed run.
SHAPING = ("env.topology", "env.forecast_horizon", "model")


def _differences(section: str, a: Settings, b: Settings) -> list[tuple[str, Any, Any]]:
    """(key, value in a, value in b) of every leaf setting under `section` that differs."""

    def leaves(value: Any, prefix: str) -> dict[str, Any]:
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        if isinstance(value, dict):
            return {
                k: v
                for key, item in value.items()
                for k, v in leaves(item, f"{prefix}.{key}").items()
            }
        return {prefix: value}

    def at(settings: Settings) -> dict[str, Any]:
        value: Any = settings
        for name in section.split("."):
            value = getattr(value, name)
        return leaves(value, section)

    before, after = at(a), at(b)
    return [(key, before[key], after.get(key)) for key in before if before[key] != after.get(key)]


# Called with (env steps so far, the ApexAlgorithm) before the first round and after each one.
RoundHook = Callable[[int, Any], None]


def run_training(settings: Settings, run_dir: Path, on_round: RoundHook | None = None) -> Path:
    """Train until `training.total_env_steps`; return the checkpoint directory.

    `on_round(env_steps, algo)` runs before training and after every round (e.g. to evaluate
    the current weights); its time shows in the next round's logged rates.
    """
    from marl_alloc.apex.algorithm import ENV_STEPS_LIFETIME, UPDATES_LIFETIME
    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.ray_start import start_ray
    from marl_alloc.training_log import PROGRESS_FILE, TrainingLog, read_progress

    # Saved as given: paths left to the run dir are found again wherever the dir is resumed.
    given = settings
    settings, run_dir = run_paths(settings, run_dir)
    training = settings.training
    checkpoint_dir = Path(training.checkpoint_dir)
    resume_from = latest_checkpoint(checkpoint_dir) if settings.resume else None
    if settings.resume and resume_from is None:
        raise UserError(f"resume={settings.resume}: no checkpoint in {checkpoint_dir}")
    if not settings.resume:
        require_fresh_run_dir(settings, run_dir)
    elif (run_dir / PROGRESS_FILE).is_file():
        read_progress(run_dir / PROGRESS_FILE)  # a damaged log: said before minutes of setup
    config = build_apex_config(settings)
    if not training.local:  # the in-process pipeline needs no Ray
        start_ray(settings.cluster)
    algo = config.build_algo()
    if resume_from is not None:
        # Learner, optimizer and lifetime counters; the shards find their snapshots themselves.
        algo.restore_from_path(str(resume_from))
    total = training.total_env_steps
    every_s = training.checkpoint_every_s
    log = TrainingLog(run_dir, total, append=resume_from is not None)
    env_steps = int(algo.metrics.peek(ENV_STEPS_LIFETIME, default=0))
    last_save = time.monotonic()
    try:
        if on_round is not None:
            on_round(env_steps, algo)
        while env_steps < total:
            result = algo.train()
            env_steps = int(result.get(ENV_STEPS_LIFETIME, 0))
            log.record(env_steps, int(result.get(UPDATES_LIFETIME, 0)), result.get("apex", {}))
            if on_round is not None:
                on_round(env_steps, algo)
            if every_s > 0 and time.monotonic() - last_save >= every_s and env_steps < total:
                save_checkpoint(algo, checkpoint_dir, given)
                last_save = time.monotonic()
        if int(algo.metrics.peek(UPDATES_LIFETIME, default=0)) == 0:
            print(
                f"warning: the run made 0 learner updates (its replay never held "
                f"replay.min_size_to_sample={settings.replay.min_size_to_sample} transitions in"
                f" {env_steps:,} env steps): its checkpoint holds the initial weights",
                file=sys.stderr,
                flush=True,
            )
        save_checkpoint(algo, checkpoint_dir, given)
    finally:
        algo.stop()
        log.close()
    return checkpoint_dir


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    """Hydra entry point: the composed tree, checked by the settings schema."""
    from hydra.core.hydra_config import HydraConfig

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    quiet_unactionable_logs()
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir).resolve()
    settings = None
    try:
        if cfg.resume:
            settings = resumed_settings(cfg.resume, hydra_config.overrides.task)
        else:
            settings = to_object(cfg)
        checkpoint_dir = run_training(settings, run_dir)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM, after run_training's cleanup
        print(interrupted_line(interrupt, settings, run_dir), file=sys.stderr, flush=True)
        sys.exit(exit_code(interrupt))
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    print(f"checkpoint: {checkpoint_dir}", flush=True)


def interrupted_line(interrupt: KeyboardInterrupt, settings: Settings | None, run_dir: Path) -> str:
    """The one line a stopped run ends with: where its last checkpoint is and how to go on."""
    stopped = f"interrupted ({signal_name(interrupt)})"
    if settings is None:
        return f"{stopped} before training started: nothing saved"
    settings, run_dir = run_paths(settings, run_dir)
    checkpoint = latest_checkpoint(Path(settings.training.checkpoint_dir))
    if checkpoint is None:
        return (
            f"{stopped} before the first checkpoint: nothing to resume"
            " (training.checkpoint_every_s sets how often one is saved)"
        )
    return f"{stopped}: last checkpoint {checkpoint}; continue with resume={run_dir}"


def check_overrides(argv: Sequence[str]) -> None:
    """Build the settings once before Hydra composes them, so that an unknown key, a wrong type
    or an out-of-range value is our one-line error (exit 2), not Hydra's multi-line report, and
    no run dir is made for it. Command lines with Hydra's own flags (--help, --cfg, -m, ...)
    are left to Hydra."""
    if any(arg.startswith("-") for arg in argv):
        return
    try:
        compose_settings([arg for arg in argv if not arg.startswith("hydra.")])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    """`python -m marl_alloc.train`: Hydra composes conf/ against the settings schema."""
    register_schemas()
    check_overrides(sys.argv[1:])
    hydra_main()


if __name__ == "__main__":
    sys.exit(run_main(main))
