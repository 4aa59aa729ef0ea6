"""Resolve and check the Hydra config tree before anything is built from it."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.paths import PROJECT_ROOT


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def resolve_settings(cfg: DictConfig) -> dict[str, Any]:
    """Plain dict of the config with paths made absolute and obviously wrong values rejected."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    training, replay = settings["training"], settings["replay"]
    for key in ("total_env_steps", "num_actors", "collect_cycles", "train_batch_size", "n_step"):
        _require(int(training[key]) > 0, f"training.{key} must be > 0, got {training[key]}")
    _require(0.0 < float(training["gamma"]) <= 1.0, "training.gamma must be in (0, 1]")
    _require(int(replay["num_shards"]) > 0, "replay.num_shards must be > 0")
    _require(
        int(replay["capacity"]) >= int(replay["num_shards"]),
        "replay.capacity must be at least replay.num_shards",
    )
    _require(int(settings["env"]["num_envs_per_actor"]) > 0, "env.num_envs_per_actor must be > 0")
    encoder = settings["model"]["policy"]["encoder"]
    _require(encoder in ("gat", "mlp"), f"model.policy.encoder must be gat or mlp, got {encoder}")
    data_dir = Path(settings["data_dir"])
    settings["data_dir"] = str(data_dir if data_dir.is_absolute() else PROJECT_ROOT / data_dir)
    return settings
