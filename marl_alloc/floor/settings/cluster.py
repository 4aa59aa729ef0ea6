"""The `cluster` group (conf/cluster/*.yaml): which Ray the commands start or join."""

import dataclasses

from marl_alloc.floor.settings.checks import require_all


@dataclasses.dataclass
class ClusterConfig:
    """Arguments of `ray.init` for train and tune."""

    # null starts a fresh local Ray; "auto" joins a running cluster (ray up).
    address: str | None = None
    num_cpus: int | None = None  # null: every core of this machine
    num_gpus: int | None = None
    # The Ray dashboard (actors, logs, the ray_marl_alloc_* metrics); null: on when its
    # dependencies (ray[default]) are installed.
    include_dashboard: bool | None = None
    # Prometheus endpoint of this node's metrics (null: Ray picks a port; see the dashboard).
    metrics_export_port: int | None = None

    def __post_init__(self):
        require_all(
            [
                (self.num_cpus is None or self.num_cpus > 0, "cluster.num_cpus must be > 0"),
                (self.num_gpus is None or self.num_gpus >= 0, "cluster.num_gpus must be >= 0"),
            ]
        )
