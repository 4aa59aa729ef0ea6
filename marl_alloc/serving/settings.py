"""The serve config and the env settings an extender runs with."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from marl_alloc.compose import compose_settings
from marl_alloc.floor.errors import UserError
from marl_alloc.serving.config import ServeConfig

SERVE_GROUP = "+serve=default"


def serve_settings(
    checkpoint: str | None, overrides: Sequence[str] = ()
) -> tuple[ServeConfig, dict[str, Any]]:
    """(ServeConfig from conf/serve + overrides, env settings): the checkpoint's env when there
    is one (the policy's input sizes follow it), else the composed env (heuristic serving)."""
    settings = compose_settings([SERVE_GROUP, *overrides])
    config = ServeConfig.from_mapping(settings["serve"])
    if not checkpoint:
        return config, settings["env"]
    from marl_alloc.checkpoints import CONFIG_FILE

    config_file = Path(checkpoint) / CONFIG_FILE
    if not config_file.is_file():
        raise UserError(f"{checkpoint} is not a marl-alloc checkpoint (missing {CONFIG_FILE})")
    trained = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True)
    return config, trained["env"]
