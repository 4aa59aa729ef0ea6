"""Start Ray the way every marl-alloc command does: a fresh local instance unless the config
names a cluster to join, the dashboard's URL printed, and no log line a user cannot act on."""

import logging
import sys

from marl_alloc.floor.settings import ClusterConfig

# What Ray and RLlib log that a marl-alloc user can do nothing about: RLlib's own use of its
# deprecated RLModuleConfig, the notice that an algorithm runs on the new API stack (ours
# always does), Ray Tune's system monitor asking for GPUtil, and the notice that a fresh local
# Ray uses token authentication (Ray's default). {logger: start of the message}
UNACTIONABLE = {
    "ray._common.deprecation": "DeprecationWarning: `RLModule(config=[RLModuleConfig object])`",
    "ray.rllib.algorithms.algorithm_config": "You are running ",
    "ray.tune.utils.util": "Install gputil",
    "ray._private.authentication.authentication_token_setup": "Token authentication is enabled",
}


class _Unactionable(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)


def quiet_unactionable_logs() -> None:
    """Drop the UNACTIONABLE messages in this process (also Ray's worker setup hook)."""
    for name, start in UNACTIONABLE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Unactionable) for f in logger.filters):
            logger.addFilter(_Unactionable(start))


def start_ray(cluster: ClusterConfig) -> None:
    """`ray.init` from the `cluster` settings; nothing if Ray already runs in this process.
    Prints the dashboard's URL (stderr) when it runs."""
    import ray

    quiet_unactionable_logs()
    if ray.is_initialized():
        return
    context = ray.init(
        # null means a fresh local instance, never whichever cluster happens to run here.
        address=cluster.address or "local",
        num_cpus=cluster.num_cpus,
        num_gpus=cluster.num_gpus,
        # None: Ray starts it when its dependencies (ray[default]) are installed.
        include_dashboard=cluster.include_dashboard,
        _metrics_export_port=cluster.metrics_export_port,
        logging_level=logging.WARNING,
        runtime_env={
            "env_vars": {"PYTHONWARNINGS": "ignore::DeprecationWarning"},
            "worker_process_setup_hook": f"{__name__}.quiet_unactionable_logs",
        },
    )
    if context.dashboard_url:
        # Ray's token authentication covers the dashboard's API: it asks for the token.
        print(
            f"ray dashboard: http://{context.dashboard_url} (its token: ray get-auth-token)",
            file=sys.stderr,
            flush=True,
        )
