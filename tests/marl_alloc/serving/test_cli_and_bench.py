"""`python -m marl_alloc.serve` input errors, the serve bench's measurement on a live app, and
the fake API server of its watch path."""

import argparse
import json
import time

import pytest

from marl_alloc.bench.serve_cluster import FakeNodeApi, bench_args, names_body
from marl_alloc.bench.serve_request import measure_size
from marl_alloc.serve import main
from marl_alloc.serving.config import AnnotationConfig, LabelConfig
from marl_alloc.serving.informer import Informer
from marl_alloc.serving.kube_api import KubeApi
from marl_alloc.serving.node_cache import NodeCache
from marl_alloc.serving.policy import LevelQPolicy
from marl_alloc.serving.service import ExtenderService


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "CHECKPOINT or --policy"),
        (["/no/such/dir"], "not a marl-alloc checkpoint"),
        (["--policy", "random"], "unknown policy 'random'"),
        (["--policy", "best-fit", "serve.deadline_ms=-1"], "deadline_ms must be >= 0"),
        (["--policy", "best-fit", "serve.carbon.hold_by=sometimes"], "hold_by"),
        (["--policy", "best-fit", "serve.nonsense=1"], "override"),
        (["--policy", "best-fit", "serve.bind_verb=stats"], "bind_verb"),
        (["--policy", "best-fit", "serve.bind_verb=bind"], "serve.kube_api.api_server"),
        (["--policy", "best-fit", "serve.node_source=watch"], "serve.kube_api.api_server"),
        (["--policy", "best-fit", "serve.ingress.mode=sideways"], "serve.ingress.mode"),
        (["--policy", "best-fit", "serve.ingress.first_port=80"], "first_port"),
        (["--port", "99999"], "99999 is not a TCP port"),
        (["--policy", "best-fit", "--port", "http"], "http is not a TCP port"),
        (["--policy", "best-fit", "--bogus"], "unrecognized arguments: --bogus"),
        (["--policy", "best-fit", "serve.http.port=70000"], "serve.http.port"),
        (["--policy", "best-fit", "serve.max_body_bytes=0"], "serve.max_body_bytes"),
        # TEST-NET-1: an address no interface of this machine has.
        (["--policy", "best-fit", "--host", "192.0.2.123"], "cannot listen on 192.0.2.123"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_bench_measures_a_live_extender(extender_url, extender_config, ten):
    policy, settings = LevelQPolicy.from_checkpoint(str(ten.checkpoint))
    service = ExtenderService(extender_config, settings.env, policy)
    args = argparse.Namespace(requests=3, clients=2, seed=0, sustain_s=0.5)
    result = measure_size(service, f"{extender_url}/", 30, args)
    assert result["nodes"] == 30 and result["answers_match_in_process"]
    assert result["request_bytes"] > 30 * 1000 and result["fallbacks"] == 0
    for key in ("http_ms", "replica_ms", "http_changed_nodes_ms", "handler_ms"):
        assert 0 < result[key]["p50"] <= result[key]["p99"]
    assert 0 < result["node_names_http_ms"]["p50"] <= result["node_names_http_ms"]["p99"]
    # The replica's own time is part of the round trip; the rest is HTTP and Serve.
    assert result["replica_ms"]["p50"] < result["http_ms"]["p50"]
    assert result["overhead_ms"]["p50"] > 0
    assert result["concurrent"]["pods_per_s"] > 0
    assert len(bench_args(5, 0)["Nodes"]["items"]) == 5


def test_bench_watch_path_lists_the_fake_api_servers_nodes():
    nodes = bench_args(5, 0)["Nodes"]["items"]
    api = FakeNodeApi(nodes)
    cache = NodeCache(None, LabelConfig(), AnnotationConfig())
    informer = Informer(KubeApi.connect(api.url, timeout_s=5), "nodes", cache).start()
    try:
        deadline = time.monotonic() + 5
        while not informer.synced:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        names = [n["metadata"]["name"] for n in nodes]
        assert cache.names() == set(names)
        body = json.loads(names_body(bench_args(5, 0)))
        assert body["NodeNames"] == names and set(body) == {"Pod", "NodeNames"}
    finally:
        informer.stop()
        api.close()


def test_a_checkpoint_given_relative_to_the_working_dir_loads(checkpoint, monkeypatch):
    monkeypatch.chdir(checkpoint.parent.parent)
    relative = f"{checkpoint.parent.name}/{checkpoint.name}"
    policy, settings = LevelQPolicy.from_checkpoint(relative)
    assert set(policy.q_nets) == {"cluster", "rack", "leaf"} and settings.env
