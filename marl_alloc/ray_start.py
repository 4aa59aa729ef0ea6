"""Start Ray the way every marl-alloc command does: a fresh local instance unless the config
names a cluster to join, the dashboard's URL printed, and no log line a user cannot act on."""

import logging
import os
import socket
import sys

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import ClusterConfig

# How long a named cluster's head may take to accept a connection before train or tune give up.
CONNECT_TIMEOUT_S = 10.0

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

# Before failing a call to an actor that died, Ray waits up to a second for the GCS to say why
# (timeout_ms_task_wait_for_death_info). The driver replaces a dead env actor with a spare the
# moment its call fails, so that wait is a second of lost throughput on every actor failure
# (measured: 1.3-1.5 s from kill to failure with it, 0.02 s without); skipping it only makes the
# error text less specific. Calls that retry (max_task_retries) still retry.
FAIL_FAST = {"RAY_timeout_ms_task_wait_for_death_info": "0"}


def fail_fast() -> None:
    """Set FAIL_FAST for the Ray this process starts or joins (unless the user set it)."""
    for name, value in FAIL_FAST.items():
        os.environ.setdefault(name, value)


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


def require_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A UserError unless a TCP connection to `address` (host:port, or ray://host:port) opens
    within `timeout_s`: Ray itself retries an unreachable GCS for minutes, printing a line
    every 5 s."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"cluster.address={address} is not HOST:PORT, 'auto' or null")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise UserError(
            f"cluster.address={address}: no Ray cluster answers there within {timeout_s:g} s"
            f" ({err.strerror or err}); start it (ray start --head, ray up) or set"
            " cluster.address=null for a local Ray"
        ) from None


def start_ray(cluster: ClusterConfig) -> None:
    """`ray.init` from the `cluster` settings; nothing if Ray already runs in this process.
    Prints the dashboard's URL (stderr) when it runs."""
    import ray

    quiet_unactionable_logs()
    if ray.is_initialized():
        return
    fail_fast()
    if cluster.address not in (None, "local", "auto"):
        require_reachable(cluster.address)
    try:
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
    except ConnectionError as err:  # "auto" with no cluster running here
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"cluster.address={cluster.address}: {first_line}") from None
    if context.dashboard_url:
        # Ray's token authentication covers the dashboard's API: it asks for the token.
        print(
            f"ray dashboard: http://{context.dashboard_url} (its token: ray get-auth-token)",
            file=sys.stderr,
            flush=True,
        )
