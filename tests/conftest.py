"""Shared fixtures: one local Ray instance for the whole test session (starting one costs ~3 s)."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property and fuzz tests draw the same examples on every run unless asked to explore, so CI's
# verdict on a commit does not depend on a random draw; `--hypothesis-profile=explore` searches
# afresh (and more) when hunting for the next malformed input.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", max_examples=500)
settings.load_profile("repeatable")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray with 2 CPUs and no dashboard, shared by all integration tests."""
    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        # "local": a fresh instance even when another Ray cluster runs on this machine.
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real traces in ../shared/data; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts Ray (the session fixture or its own cluster) is marked `ray` and is in
    the slow tier: Ray and its actors alone cost seconds, so `-m "not slow"` stays quick."""
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)
        if item.get_closest_marker("ray"):
            item.add_marker(pytest.mark.slow)
