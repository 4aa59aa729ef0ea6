"""The typed settings schema: one dataclass per Hydra group, checked once at the entry point.

    Settings            the whole tree (seed, data_dir, resume, env, model, replay, training,
                        cluster, and tune / serve when composed); CONFIG_FILE beside checkpoints
    EnvConfig           env group: SyntheticEnvConfig | TraceEnvConfig (one per workload shape)
    ModelConfig         model group: PolicyConfig, MixerConfig, ForecasterConfig
    ReplayConfig        replay group
    TrainingConfig      training group
    ClusterConfig       cluster group
    TuneConfig          tune group
    ForecastSettings    `python -m marl_alloc.forecast`'s own tree (conf/forecast)

Keys and types are enforced by OmegaConf (Hydra's ConfigStore holds these classes as the
groups' schemas: marl_alloc.floor.settings.compose), ranges by each class's `__post_init__`;
both fail as one-line ConfigErrors. Composing with Hydra lives in `.compose`, so importing the
schema needs OmegaConf only.
"""

from marl_alloc.floor.settings.cluster import ClusterConfig
from marl_alloc.floor.settings.env import (
    CarbonConfig,
    EnvConfig,
    HostConfig,
    KnowledgeConfig,
    MigrationConfig,
    RewardConfig,
    SyntheticEnvConfig,
    SyntheticWorkloadConfig,
    TopologyConfig,
    TraceEnvConfig,
    TraceWorkloadConfig,
    UsageConfig,
    WorkloadConfig,
    env_schema,
)
from marl_alloc.floor.settings.forecast import ForecastNetConfig, ForecastSettings
from marl_alloc.floor.settings.model import (
    ForecasterConfig,
    MixerConfig,
    ModelConfig,
    PolicyConfig,
)
from marl_alloc.floor.settings.replay import ReplayConfig
from marl_alloc.floor.settings.root import CONFIG_FILE, Settings
from marl_alloc.floor.settings.structured import from_mapping, to_plain
from marl_alloc.floor.settings.training import TrainingConfig
from marl_alloc.floor.settings.tune import TuneConfig

__all__ = [
    "CONFIG_FILE",
    "CarbonConfig",
    "ClusterConfig",
    "EnvConfig",
    "ForecastNetConfig",
    "ForecastSettings",
    "ForecasterConfig",
    "HostConfig",
    "KnowledgeConfig",
    "MigrationConfig",
    "MixerConfig",
    "ModelConfig",
    "PolicyConfig",
    "ReplayConfig",
    "RewardConfig",
    "Settings",
    "SyntheticEnvConfig",
    "SyntheticWorkloadConfig",
    "TopologyConfig",
    "TraceEnvConfig",
    "TraceWorkloadConfig",
    "TrainingConfig",
    "TuneConfig",
    "UsageConfig",
    "WorkloadConfig",
    "env_schema",
    "from_mapping",
    "to_plain",
]
