"""Hydra composition of conf/ with the settings classes as the groups' schemas.

Every command composes through here (train through `@hydra.main` after `register_schemas`), so
Hydra itself rejects an unknown key or a wrong type, and a bad override is one line.
"""

import functools
from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.paths import CONF_DIR
from marl_alloc.floor.settings.cluster import ClusterConfig
from marl_alloc.floor.settings.env import SyntheticEnvConfig, TraceEnvConfig
from marl_alloc.floor.settings.forecast import ForecastSettings
from marl_alloc.floor.settings.model import ModelConfig
from marl_alloc.floor.settings.replay import ReplayConfig
from marl_alloc.floor.settings.root import Settings
from marl_alloc.floor.settings.structured import one_line, to_object
from marl_alloc.floor.settings.training import TrainingConfig
from marl_alloc.floor.settings.tune import TuneConfig

CONFIG_NAME = "config"
FORECAST_CONFIG_NAME = "forecast/config"
# Each group's YAML names its schema first in its defaults list (`- schema`, the env options
# their workload's shape), so the options of a group are checked against it.
GROUP_SCHEMAS = {
    ("env", "synthetic_schema"): SyntheticEnvConfig,
    ("env", "trace_schema"): TraceEnvConfig,
    ("model", "schema"): ModelConfig,
    ("replay", "schema"): ReplayConfig,
    ("training", "schema"): TrainingConfig,
    ("cluster", "schema"): ClusterConfig,
    ("tune", "schema"): TuneConfig,
}
ROOT_SCHEMAS = {"settings_schema": Settings, "forecast_schema": ForecastSettings}


@functools.cache
def register_schemas() -> None:
    """Put the settings classes in Hydra's ConfigStore (once per process)."""
    store = ConfigStore.instance()
    for name, node in ROOT_SCHEMAS.items():
        store.store(name=name, node=node)
    for (group, name), node in GROUP_SCHEMAS.items():
        register_group_schema(group, node, name)


def register_group_schema(group: str, node: type, name: str = "schema") -> None:
    """Make `node` the schema of a config group (how marl_alloc.serving adds its serve group)."""
    ConfigStore.instance().store(group=group, name=name, node=node)


def compose_tree(overrides: Sequence[str] = (), config_name: str = CONFIG_NAME) -> DictConfig:
    """The composed config tree for these Hydra overrides; a bad override is a ConfigError."""
    register_schemas()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"bad config override: {one_line(_root_cause(err))}") from None


def compose_settings(overrides: Sequence[str] = ()) -> Settings:
    """The train / evaluate / tune / serve settings for these Hydra overrides."""
    return to_object(compose_tree(overrides))


def compose_forecast_settings(overrides: Sequence[str] = ()) -> ForecastSettings:
    """`python -m marl_alloc.forecast`'s settings for these Hydra overrides."""
    return to_object(compose_tree(overrides, FORECAST_CONFIG_NAME))


def available_workloads() -> list[str]:
    """Names of the env config group (`conf/env/*.yaml`)."""
    return sorted(p.stem for p in (CONF_DIR / "env").glob("*.yaml"))


def _root_cause(err: BaseException) -> BaseException:
    # Hydra wraps the OmegaConf error that names the key ("Error merging override ...").
    cause = err.__cause__
    return cause if isinstance(cause, OmegaConfBaseException) else err
