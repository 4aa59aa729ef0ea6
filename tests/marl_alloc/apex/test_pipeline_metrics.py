"""Pipeline metrics: no-ops without Ray, and exported to Prometheus by a real Ray head."""

import json
import socket
import subprocess
import sys

import pytest

from marl_alloc.floor import pipeline_metrics
from tests.conftest import PROJECT_ROOT
from tests.marl_alloc.apex.metrics_run import EXPECTED, PRESENT

ACTOR_STATS = {
    "env_steps": 100,
    "transitions": 90,
    "sla_violation_rate": 0.01,
    "energy_kwh": 0.2,
    "weights_version": 3,
}


def test_recording_without_ray_does_nothing():
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray session is running in this process")
    pipeline_metrics.record_actor(0, ACTOR_STATS)
    pipeline_metrics.record_shard_add(0, 90, 90)
    pipeline_metrics.record_shard_sample(0, 32)
    pipeline_metrics.record_learner({"updates": 0, "loss": {}}, 0.1)
    pipeline_metrics.record_round(100.0, 0.0, [])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.ray
def test_metrics_reach_the_prometheus_endpoint_of_a_ray_head(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.marl_alloc.apex.metrics_run",
            str(tmp_path),
            str(_free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    missing = [n for n in EXPECTED if values.get(n, 0) <= 0] + [
        n for n in PRESENT if n not in values
    ]
    assert not missing, f"not exported (or zero): {missing}; got {sorted(values)}"
    assert values["ray_marl_alloc_env_steps_total"] >= 1500
