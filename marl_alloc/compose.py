"""Compose the Hydra config outside `@hydra.main` (evaluate, serve, tests)."""

from collections.abc import Sequence
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from marl_alloc.settings import PROJECT_ROOT, UserError, resolve_settings

CONF_DIR = PROJECT_ROOT / "conf"


def compose_settings(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The resolved config tree for these Hydra overrides; a bad override is a UserError."""
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        first_line = str(err).strip().splitlines()[0]
        raise UserError(f"bad config override: {first_line}") from None
    return resolve_settings(cfg)


def available_workloads() -> list[str]:
    """Names of the env config group (`conf/env/*.yaml`)."""
    return sorted(p.stem for p in (CONF_DIR / "env").glob("*.yaml"))
