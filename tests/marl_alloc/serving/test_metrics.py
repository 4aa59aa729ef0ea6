"""The replica's metrics: calls add to local tallies; Ray gets them in one write per metric and
tag set per flush, from a thread, so a call never waits on a Ray metric write."""

import time

import pytest

from marl_alloc.serving.metrics import ExtenderMetrics


class FakeRayMetric:
    """What ray.util.metrics.Counter / Gauge are asked to record."""

    def __init__(self, name: str, **_):
        self.name = name
        self.increments: list[tuple[float, dict]] = []
        self.values: list[float] = []

    def inc(self, value: float = 1.0, tags: dict | None = None) -> None:
        self.increments.append((value, tags))

    def set(self, value: float, tags: dict | None = None) -> None:
        self.values.append(value)


@pytest.fixture
def ray_metrics(monkeypatch) -> dict[str, FakeRayMetric]:
    from ray.util import metrics

    made: dict[str, FakeRayMetric] = {}

    def make(name: str, **kwargs) -> FakeRayMetric:
        made[name] = FakeRayMetric(name, **kwargs)
        return made[name]

    monkeypatch.setattr(metrics, "Counter", make)
    monkeypatch.setattr(metrics, "Gauge", make)
    return made


def test_ray_gets_each_tally_once_per_flush_and_the_latest_gauge(ray_metrics):
    metrics = ExtenderMetrics(ray_metrics=True, flush_s=3600.0)
    try:
        for _ in range(5):
            metrics.request("prioritize", 200)
        metrics.request("filter", 400)
        metrics.carbon(300.0, True)
        metrics.carbon(250.0, False)
        requests = ray_metrics["marl_alloc_extender_requests"]
        assert requests.increments == []  # nothing sent from the calls themselves
        metrics.flush()
        assert sorted(requests.increments, key=lambda inc: inc[0]) == [
            (1, {"verb": "filter", "code": "400"}),
            (5, {"verb": "prioritize", "code": "200"}),
        ]
        assert ray_metrics["marl_alloc_carbon_intensity_g_per_kwh"].values == [250.0]
        assert ray_metrics["marl_alloc_carbon_hold_active"].values == [0.0]
        metrics.flush()  # nothing new: nothing sent twice
        assert len(requests.increments) == 2
        assert metrics.snapshot()["counts"]["requests/prioritize/200"] == 5
    finally:
        metrics.close()


def test_the_thread_sends_without_being_asked_and_close_sends_the_rest(ray_metrics):
    metrics = ExtenderMetrics(ray_metrics=True, flush_s=0.05)
    metrics.fallback("prioritize", "deadline")
    fallbacks = ray_metrics["marl_alloc_extender_fallbacks"]
    deadline = time.monotonic() + 5.0
    while not fallbacks.increments and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fallbacks.increments == [(1, {"verb": "prioritize", "reason": "deadline"})]
    metrics.close()
    metrics.binding(bound=True)
    metrics.close()
    assert ray_metrics["marl_alloc_extender_bindings"].increments == [(1, {"result": "bound"})]
