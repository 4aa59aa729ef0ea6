"""The whole config tree of train / evaluate / tune / serve (conf/config.yaml) as one object,
and how it is stored beside a checkpoint."""

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.paths import PROJECT_ROOT
from marl_alloc.floor.settings.checks import require, require_finite
from marl_alloc.floor.settings.cluster import ClusterConfig
from marl_alloc.floor.settings.env import SYNTHETIC, EnvConfig, env_schema
from marl_alloc.floor.settings.model import ModelConfig
from marl_alloc.floor.settings.replay import ReplayConfig
from marl_alloc.floor.settings.structured import one_line, to_object, to_plain
from marl_alloc.floor.settings.training import TrainingConfig
from marl_alloc.floor.settings.tune import TuneConfig

# The settings a run was trained with, beside its checkpoint (and in every tuning trial's).
CONFIG_FILE = "marl_alloc.yaml"


@dataclasses.dataclass
class Settings:
    """One typed object per Hydra group, built once by the entry point and passed down."""

    seed: int = 0
    # Real traces live outside the repo; a relative path resolves against the project root.
    data_dir: str = "../shared/data/google-2011"
    # A previous run's directory to continue from (checkpoint, replay snapshot, counters).
    resume: str | None = None
    env: EnvConfig = MISSING
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    replay: ReplayConfig = dataclasses.field(default_factory=ReplayConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)
    # Composed by `python -m marl_alloc.tune` only (+tune=default).
    tune: TuneConfig | None = None
    # Composed by `python -m marl_alloc.serve` only (+serve=default); its schema is the
    # extender's ServeConfig, registered by marl_alloc.serving.
    serve: Any = None

    def __post_init__(self):
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require_finite(self)
        data_dir = Path(self.data_dir)
        self.data_dir = str(data_dir if data_dir.is_absolute() else PROJECT_ROOT / data_dir)

    @classmethod
    def from_mapping(cls, mapping: Mapping | DictConfig, overrides: list[str] = ()) -> "Settings":
        """Settings from a saved tree (a checkpoint's, a tuning trial's) with `key=value`
        overrides on top; wrong keys, types and values are one-line ConfigErrors."""
        try:
            tree = OmegaConf.merge(
                schema_node(_env_kind(mapping)),
                mapping,
                OmegaConf.from_dotlist([o.lstrip("+") for o in overrides]),
            )
        except OmegaConfBaseException as err:
            raise ConfigError(one_line(err)) from None
        return to_object(tree)

    def with_values(self, values: Mapping[str, Any]) -> "Settings":
        """A copy with {dotted key: value} set (e.g. a tuning trial's hyperparameters),
        checked like any other setting."""
        tree = OmegaConf.structured(self)
        try:
            for key, value in values.items():
                OmegaConf.update(tree, key, value, merge=False)
        except OmegaConfBaseException as err:
            raise ConfigError(one_line(err)) from None
        return to_object(tree)

    def save(self, path: Path) -> Path:
        """Write the settings as YAML (what `load` and the checkpoint readers take back)."""
        OmegaConf.save(OmegaConf.create(to_plain(self)), path)
        return path

    @classmethod
    def load(cls, path: Path, overrides: list[str] = ()) -> "Settings":
        """Settings saved with `save`; a file that is not such YAML is a ConfigError."""
        return cls.from_mapping(read_tree(path), overrides)


def read_tree(path: Path) -> DictConfig:
    """The YAML mapping in `path`; an unreadable file or one without a mapping is a
    ConfigError."""
    try:
        saved = OmegaConf.load(path)
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException) as err:
        raise ConfigError(f"cannot read {path}: {one_line(err)}") from None
    if not isinstance(saved, DictConfig):
        raise ConfigError(f"{path} holds no settings mapping")
    return saved


def schema_node(env_kind: str = SYNTHETIC) -> DictConfig:
    """The Settings schema with the env schema of a workload kind, ready to merge a tree into."""
    node = OmegaConf.structured(Settings)
    node.env = OmegaConf.structured(env_schema(env_kind))
    return node


def _env_kind(mapping: Any) -> str:
    env = mapping.get("env") if isinstance(mapping, Mapping | DictConfig) else None
    workload = env.get("workload") if isinstance(env, Mapping | DictConfig) else None
    kind = workload.get("kind") if isinstance(workload, Mapping | DictConfig) else None
    return kind if isinstance(kind, str) else SYNTHETIC
