"""Start Ray the way every marl-alloc command does: a fresh local instance unless the config
names a cluster to join."""

import logging

from marl_alloc.floor.settings import ClusterConfig


def start_ray(cluster: ClusterConfig) -> None:
    """`ray.init` from the `cluster` settings; nothing if Ray already runs in this process."""
    import ray

    if ray.is_initialized():
        return
    ray.init(
        # null means a fresh local instance, never whichever cluster happens to run here.
        address=cluster.address or "local",
        num_cpus=cluster.num_cpus,
        num_gpus=cluster.num_gpus,
        include_dashboard=cluster.include_dashboard,
        _metrics_export_port=cluster.metrics_export_port,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore::DeprecationWarning"}},
    )
