"""Read our RLlib checkpoints: the policy MultiRLModule and the Settings it was trained with."""

import logging
from pathlib import Path
from typing import Any

from envs.carbon import outlook_features
from envs.observations import observation_dims
from marl_alloc.floor.checksums import verify_manifest
from marl_alloc.floor.errors import ConfigError, UserError, first_line
from marl_alloc.floor.settings import CONFIG_FILE, Settings
from marl_alloc.floor.settings.root import read_tree

MODULE_PATH = Path("learner_group") / "learner" / "rl_module"


def load_settings(checkpoint_dir: str | Path) -> Settings:
    """The settings a checkpoint was trained with; one-line UserErrors for what is not one."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        raise UserError(f"checkpoint {root} does not exist (pass the `checkpoint:` dir of a run)")
    config_file = root / CONFIG_FILE
    if not config_file.is_file() or not (root / MODULE_PATH).is_dir():
        raise UserError(
            f"{root} is not a marl-alloc checkpoint (missing {CONFIG_FILE} or {MODULE_PATH})"
        )
    try:
        tree = read_tree(config_file)
    except ConfigError as err:
        raise UserError(f"checkpoint {root} is corrupt: {err}") from None
    try:
        return Settings.from_mapping(tree)
    except ConfigError as err:
        raise UserError(
            f"checkpoint {root} has settings this version of marl-alloc does not read ({err}):"
            " retrain it (python -m marl_alloc.train)"
        ) from None


def load_policy(checkpoint_dir: str | Path) -> tuple[Any, Settings]:
    """The trained MultiRLModule (eval mode) and the settings it was trained with."""
    root = Path(checkpoint_dir)
    settings = load_settings(root)
    verify_manifest(root)
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule

    # RLlib's own restore path logs a deprecation warning per module; a user evaluating a
    # checkpoint can do nothing about it, so it stays out of their terminal.
    ray_logger = logging.getLogger("ray")
    level = ray_logger.level
    ray_logger.setLevel(logging.ERROR)
    try:
        # RLlib reads the path as a URI: a relative one has no scheme and fails.
        module = MultiRLModule.from_checkpoint(str((root / MODULE_PATH).resolve()))
    except Exception as err:  # noqa: BLE001 - pickles and tensors fail in many ways
        raise UserError(
            f"checkpoint {root} is corrupt: cannot load the policy ({first_line(err)})"
        ) from None
    finally:
        ray_logger.setLevel(level)
    _require_current_layout(root, module, settings)
    module.foreach_module(lambda _, m: m.eval())
    return module, settings


def _require_current_layout(root: Path, module: Any, settings: Settings) -> None:
    """A policy's observation sizes must match what its env config observes today: features
    added since it was trained would otherwise fail deep inside a matmul."""
    env = settings.env
    want = observation_dims(env.topology, env.forecast_horizon, outlook_features(env.carbon))
    have = {
        level: int(module[level].observation_space["obs"].shape[0])
        for level in want
        if level in module
    }
    if have != want:
        raise UserError(
            f"checkpoint {root} observes {have} features per level, but this version of "
            f"marl-alloc observes {want} for its env: retrain it (python -m marl_alloc.train)"
        )
