"""The serve config and the env settings an extender runs with."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import CONFIG_FILE, Settings, to_plain
from marl_alloc.floor.settings.compose import compose_settings, register_group_schema
from marl_alloc.serving.config import ServeConfig

SERVE_GROUP = "+serve=default"


def serve_settings(
    checkpoint: str | None, overrides: Sequence[str] = ()
) -> tuple[ServeConfig, dict[str, Any]]:
    """(ServeConfig from conf/serve + overrides, env settings): the checkpoint's env when there
    is one (the policy's input sizes follow it), else the composed env (heuristic serving)."""
    # ServeConfig is the serve group's schema: Hydra rejects unknown keys and wrong types.
    register_group_schema("serve", ServeConfig)
    settings = compose_settings([SERVE_GROUP, *overrides])
    config = settings.serve
    config.validate()
    if not checkpoint:
        return config, to_plain(settings.env)
    config_file = Path(checkpoint) / CONFIG_FILE
    if not config_file.is_file():
        raise UserError(f"{checkpoint} is not a marl-alloc checkpoint (missing {CONFIG_FILE})")
    return config, to_plain(Settings.load(config_file).env)
