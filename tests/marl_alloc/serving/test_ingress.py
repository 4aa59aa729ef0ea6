"""Direct ingress: the Ray environment it needs, and `python -m marl_alloc.serve` answering on
the replica's own port as through Serve's proxy."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from marl_alloc.floor.errors import UserError
from marl_alloc.serving.config import ServeConfig
from marl_alloc.serving.ingress import SWITCH, ray_environment, replica_urls
from marl_alloc.serving.policy import LevelQPolicy
from marl_alloc.serving.service import ExtenderService
from marl_alloc.serving.settings import serve_settings
from tests.conftest import PROJECT_ROOT
from tests.marl_alloc.serving.conftest import free_port
from tests.marl_alloc.serving.kube_state import extender_args

# Its own Ray, Serve and a replica importing torch on a loaded 2-core machine.
START_TIMEOUT_S = 240


def test_proxy_mode_leaves_ray_alone_and_direct_mode_switches_direct_ingress_on():
    assert ray_environment(ServeConfig()) == {}
    config = ServeConfig.from_mapping({"ingress": {"mode": "direct", "first_port": 31000}})
    env = ray_environment(config)
    assert env[SWITCH] == "1"
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] == "31000"
    assert int(env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"]) > 31000
    assert env["RAY_SERVE_PORT_QUARANTINE_S"] == "0"
    single = ServeConfig.from_mapping({"ingress": {"mode": "direct", "ports_per_node": 1}})
    # Serve hands out range(min, max): one port, first_port.
    assert ray_environment(single)["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] == "30001"
    assert "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S" not in env  # Ray's default
    drained = ServeConfig.from_mapping({"ingress": {"mode": "direct", "draining_s": 0}})
    assert ray_environment(drained)["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] == "0.0"


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)


def _wait_for_line(lines: queue.Queue, prefix: str, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, "the serve command exited before serving"
            continue
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no '{prefix}' line in {START_TIMEOUT_S} s")


@pytest.mark.ray
def test_serve_command_answers_on_the_replicas_own_port_as_through_the_proxy(ten):
    proxy_port, first_port = free_port(), free_port()
    overrides = [
        f"serve.clock_s={float(ten.env.now[0])}",
        f"serve.carbon.seed={ten.seed}",
        "serve.deployment.num_replicas=1",
        "serve.deployment.num_cpus=0",
        "serve.deadline_ms=5000",
        "serve.ingress.mode=direct",
        f"serve.ingress.first_port={first_port}",
        "serve.ingress.draining_s=0",
    ]
    command = [sys.executable, "-m", "marl_alloc.serve", str(ten.checkpoint)]
    command += ["--host", "127.0.0.1", "--port", str(proxy_port), *overrides]
    # A fresh local Ray of its own: not the test session's, which runs without direct ingress.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        proxy_line = _wait_for_line(lines, "extender: ", proc)
        replica_line = _wait_for_line(lines, "replicas ", proc)
        assert f"http://127.0.0.1:{proxy_port}/" in proxy_line
        (replica_url,) = replica_line.split(": ", 1)[1].split()
        assert replica_url == f"http://127.0.0.1:{first_port}/"

        body = json.dumps(extender_args(ten.env)).encode()
        config, settings = serve_settings(str(ten.checkpoint), overrides)
        policy, _ = LevelQPolicy.from_checkpoint(str(ten.checkpoint))
        status, expected = ExtenderService(config, settings, policy).handle("prioritize", body)
        assert status == 200
        for base in (replica_url, f"http://127.0.0.1:{proxy_port}/"):
            reply = requests.post(f"{base}prioritize", data=body, timeout=30)
            assert reply.status_code == 200
            assert reply.json() == json.loads(expected)
            assert "handler;dur=" in reply.headers["Server-Timing"]
        assert requests.get(f"{replica_url}healthz", timeout=30).json()["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0


@pytest.mark.ray
def test_direct_mode_on_a_ray_without_direct_ingress_is_a_one_line_error(extender_url):
    # The session's Ray and its "ext" app run without direct ingress: no replica ports.
    config = ServeConfig.from_mapping({"app_name": "ext", "ingress": {"mode": "direct"}})
    with pytest.raises(UserError, match=f"start Ray with {SWITCH}=1") as err:
        replica_urls(config, wait_s=0)
    assert "\n" not in str(err.value)
