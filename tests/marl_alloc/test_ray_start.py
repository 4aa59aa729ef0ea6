"""How the commands start Ray: the dashboard on where it can run, its URL printed, and none of
Ray's or RLlib's log lines that a user can do nothing about."""

import logging
from types import SimpleNamespace

from marl_alloc.floor.settings import ClusterConfig
from marl_alloc.ray_start import quiet_unactionable_logs, start_ray


def test_a_local_start_asks_for_the_dashboard_and_prints_its_url(monkeypatch, capsys):
    import ray

    calls = {}

    def init(**kwargs):
        calls.update(kwargs)
        return SimpleNamespace(dashboard_url="127.0.0.1:8265")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    start_ray(ClusterConfig())
    # None: Ray starts the dashboard wherever ray[default] is installed.
    assert calls["address"] == "local" and calls["include_dashboard"] is None
    assert "ray dashboard: http://127.0.0.1:8265" in capsys.readouterr().err


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_only_the_unactionable_lines_are_dropped():
    logger = logging.getLogger("ray._common.deprecation")
    records, level = _Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.WARNING)  # a Ray session started by another test may raise it
    try:
        quiet_unactionable_logs()
        quiet_unactionable_logs()  # once per process is enough; twice changes nothing
        logger.warning("DeprecationWarning: `RLModule(config=[RLModuleConfig object])` is old")
        logger.warning("DeprecationWarning: `something_we_call()` is old")
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    assert records.messages == ["DeprecationWarning: `something_we_call()` is old"]


def test_an_unreachable_cluster_address_is_one_line_within_the_connect_timeout(monkeypatch):
    import socket
    import time

    import pytest
    import ray

    from marl_alloc.floor.errors import UserError

    def init(**kwargs):
        raise AssertionError("ray.init would retry an unreachable GCS for minutes")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(UserError, match=f"cluster.address=127.0.0.1:{port}: no Ray cluster"):
        start_ray(ClusterConfig(address=f"127.0.0.1:{port}"))
    assert time.monotonic() - start < 10.0
    with pytest.raises(UserError, match="is not HOST:PORT"):
        start_ray(ClusterConfig(address="head-node"))
