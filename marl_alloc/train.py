"""`python -m marl_alloc.train [hydra overrides]`: train the policy Ape-X style, save a checkpoint.

The last stdout line is `checkpoint: <absolute dir>`; progress goes to stderr.
"""

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from marl_alloc.settings import UserError, resolve_settings

CONFIG_FILE = "marl_alloc.yaml"


def run_training(settings: dict, run_dir: Path) -> Path:
    """Train until `training.total_env_steps`; return the checkpoint directory."""
    import ray

    from marl_alloc.apex.algorithm import ENV_STEPS_LIFETIME, UPDATES_LIFETIME
    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.training_log import TrainingLog

    training = settings["training"]
    config = build_apex_config(settings)
    # RLlib's Algorithm starts Ray itself if none runs (local mode too); start it our way.
    if not ray.is_initialized():
        cluster = settings["cluster"]
        ray.init(
            address=cluster["address"],
            num_cpus=cluster["num_cpus"],
            num_gpus=cluster["num_gpus"],
            include_dashboard=bool(cluster["include_dashboard"]),
            logging_level=logging.WARNING,
            runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore::DeprecationWarning"}},
        )
    algo = config.build_algo()
    if settings.get("resume"):
        algo.restore_from_path(str(Path(settings["resume"]) / "checkpoint"))
    log = TrainingLog(run_dir, int(training["total_env_steps"]))
    env_steps = 0
    try:
        while env_steps < int(training["total_env_steps"]):
            result = algo.train()
            env_steps = int(result.get(ENV_STEPS_LIFETIME, 0))
            log.record(env_steps, int(result.get(UPDATES_LIFETIME, 0)), result.get("apex", {}))
        checkpoint_dir = Path(training["checkpoint_dir"] or run_dir / "checkpoint").resolve()
        algo.save_to_path(str(checkpoint_dir))
        OmegaConf.save(OmegaConf.create(settings), checkpoint_dir / CONFIG_FILE)
    finally:
        algo.stop()
        log.close()
    return checkpoint_dir


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    from hydra.core.hydra_config import HydraConfig

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    run_dir = Path(HydraConfig.get().runtime.output_dir).resolve()
    try:
        settings = resolve_settings(cfg)
        checkpoint_dir = run_training(settings, run_dir)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    print(f"checkpoint: {checkpoint_dir}", flush=True)


if __name__ == "__main__":
    main()
