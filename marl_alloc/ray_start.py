"""Start Ray the way every marl-alloc command does: a fresh local instance unless the config
names a cluster to join."""

import logging
import os
from typing import Any

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


def start_ray(cluster: dict[str, Any]) -> None:
    """`ray.init` from the `cluster` config group; nothing if Ray already runs in this process."""
    import ray

    if ray.is_initialized():
        return
    fail_fast()
    ray.init(
        # null means a fresh local instance, never whichever cluster happens to run here.
        address=cluster["address"] or "local",
        num_cpus=cluster["num_cpus"],
        num_gpus=cluster["num_gpus"],
        include_dashboard=bool(cluster["include_dashboard"]),
        _metrics_export_port=cluster.get("metrics_export_port"),
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore::DeprecationWarning"}},
    )
