"""`python -m marl_alloc.bench serve` end to end, in its own Ray with direct ingress: the JSON
layout the watch path reports, and a replica killed under load: the other answers every pod with
no 5xx and a successor answers within the wait."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT
from tests.marl_alloc.serving.conftest import free_port

# Its own Ray, Serve, two replicas importing torch, a kill and a restart on a loaded machine.
TIMEOUT_S = 600


@pytest.mark.ray
@pytest.mark.slow
def test_the_bench_reports_the_watch_path_and_a_replica_killed_under_load():
    command = [
        *(sys.executable, "-m", "marl_alloc.bench", "serve", "--json", "--nodes", "30"),
        *("--requests", "10", "--sustain-s", "1", "--paced-rate", "20"),
        *("--kill-replica", "--kill-rate", "20"),
        *("--kill-seconds", "6", "--kill-wait-s", "120"),
        f"serve.ingress.first_port={free_port()}",
        # A third port for the successor when the dead one's is held (serve_failover docstring).
        "serve.ingress.ports_per_node=3",
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = done.stdout.strip().splitlines()  # one JSON line, nothing of Ray's
    result = json.loads(line)
    (entry,) = result["watch_results"]
    assert entry["nodes"] == 30 and 0 < entry["http_ms"]["p50"] <= entry["http_ms"]["p99"]
    assert entry["pods_per_s"] > 0 and entry["sustained"]["replicas"] == 2
    paced = entry["paced"]
    assert paced["target_pods_per_s"] == 20 and paced["pods"] > 0
    assert 0 <= paced["fallbacks"] <= entry["fallbacks"]
    by_policy = entry["last_answer_by"] == "policy"
    assert entry["answers_match_full_nodes_in_process"] or not by_policy
    failure = result["replica_failure"]
    assert failure["server_errors"] == 0 and set(failure["statuses"]) == {"200"}
    assert failure["pods"] > 0 and failure["unreachable"] >= 0
    assert failure["replica_back_s"] is not None
    assert isinstance(failure["replica_back_on_its_port"], bool)


def test_the_two_untrained_policies_differ_only_by_the_forecaster(tmp_path):
    import torch

    from marl_alloc.bench.serve_forecast import untrained_checkpoints
    from marl_alloc.serving.policy import LevelQPolicy

    plain, with_forecaster = untrained_checkpoints(tmp_path, seed=0)
    without, _ = LevelQPolicy.from_checkpoint(str(plain))
    with_it, _ = LevelQPolicy.from_checkpoint(str(with_forecaster))
    assert without.forecaster is None and with_it.forecaster is not None
    obs = torch.rand(4, without.obs_dims["cluster"]).numpy()
    assert (without.q_values("cluster", obs) == with_it.q_values("cluster", obs)).all()


def test_the_forecaster_cost_is_one_forward_per_closed_bin(tmp_path):
    from marl_alloc.bench.serve import CLOCK_S
    from marl_alloc.bench.serve_forecast import BINS, forecast_cost, untrained_checkpoints

    _, with_forecaster = untrained_checkpoints(tmp_path, seed=0)
    cost = forecast_cost(str(with_forecaster), [], num_nodes=30, seed=0, start_s=CLOCK_S)
    assert cost["bins"] == BINS and cost["leaf_groups"] >= 30 // 16
    assert 0 < cost["forward_ms"]["p50"] <= cost["tick_ms"]["p99"]
    assert cost["forecast_nonzero"] and cost["first_call_ms"]["p50"] > 0
