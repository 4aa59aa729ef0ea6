"""Read our RLlib checkpoints for evaluation: the policy MultiRLModule and the run's settings."""

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from marl_alloc.settings import UserError

CONFIG_FILE = "marl_alloc.yaml"
MODULE_PATH = Path("learner_group") / "learner" / "rl_module"


def load_policy(checkpoint_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The trained MultiRLModule (eval mode) and the settings it was trained with."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        raise UserError(f"checkpoint {root} does not exist (pass the `checkpoint:` dir of a run)")
    config_file = root / CONFIG_FILE
    module_dir = root / MODULE_PATH
    if not config_file.is_file() or not module_dir.is_dir():
        raise UserError(
            f"{root} is not a marl-alloc checkpoint (missing {CONFIG_FILE} or {MODULE_PATH})"
        )
    try:
        settings = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True)
    except Exception as err:  # noqa: BLE001 - any parse failure means the file is corrupt
        raise UserError(
            f"checkpoint {root} is corrupt: cannot read {CONFIG_FILE} ({err})"
        ) from None
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule

    # RLlib's own restore path logs a deprecation warning per module; a user evaluating a
    # checkpoint can do nothing about it, so it stays out of their terminal.
    ray_logger = logging.getLogger("ray")
    level = ray_logger.level
    ray_logger.setLevel(logging.ERROR)
    try:
        # RLlib reads the path as a URI: a relative one has no scheme and fails.
        module = MultiRLModule.from_checkpoint(str(module_dir.resolve()))
    except Exception as err:  # noqa: BLE001 - pickles and tensors fail in many ways
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"checkpoint {root} is corrupt: cannot load the policy ({first_line})"
        ) from None
    finally:
        ray_logger.setLevel(level)
    module.foreach_module(lambda _, m: m.eval())
    return module, settings
