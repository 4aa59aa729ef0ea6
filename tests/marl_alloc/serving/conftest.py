"""A small saved policy, simulator states at a decision, and one local Serve with the extender.

The policy (untrained) decides for clusters of 2 racks x 1 leaf group x 5 hosts. Two simulator
states use it: TEN (one cluster, 10 hosts) and THOUSAND (100 clusters, 1,000 hosts; each cluster
becomes a zone); their hosts and pending task become the Kubernetes requests.
"""

import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest

from envs import LevelObs, VectorDatacenterEnv
from marl_alloc.floor.settings import Settings
from tests.marl_alloc.serving.kube_state import (
    env_at_decision,
    save_untrained_checkpoint,
    small_settings,
)

SHAPE = (2, 1, 5)
THOUSAND_CLUSTERS = 100
SEED = 7


@dataclasses.dataclass
class Scenario:
    """A saved policy and a simulator state at a cluster-level decision."""

    checkpoint: Path
    settings: Settings
    env: VectorDatacenterEnv
    level_obs: LevelObs
    seed: int

    def serve_overrides(self) -> dict[str, Any]:
        """Serve config that replays this state: its clock and carbon series."""
        return {"clock_s": float(self.env.now[0]), "carbon": {"seed": self.seed}}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """The saved policy (trained with one cluster; the cluster count does not change it)."""
    return save_untrained_checkpoint(
        tmp_path_factory.mktemp("policy") / "checkpoint", small_settings(*SHAPE), seed=SEED
    )


@pytest.fixture(scope="session")
def ten(checkpoint) -> Scenario:
    settings = small_settings(*SHAPE)
    return Scenario(checkpoint, settings, *env_at_decision(settings, SEED), SEED)


@pytest.fixture(scope="session")
def thousand(checkpoint) -> Scenario:
    settings = small_settings(*SHAPE, clusters=THOUSAND_CLUSTERS)
    return Scenario(checkpoint, settings, *env_at_decision(settings, SEED), SEED)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_config(scenario: Scenario, **extra: Any) -> Any:
    from marl_alloc.serving.config import ServeConfig

    base = {
        "deployment": {"num_replicas": 1, "num_cpus": 0},
        # Generous: a loaded test machine must not turn policy answers into fallbacks.
        "deadline_ms": 5000.0,
        **scenario.serve_overrides(),
    }
    for key, value in extra.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return ServeConfig.from_mapping(base)


@pytest.fixture(scope="session")
def extender_config(ten) -> Any:
    """The Serve app's config: replays TEN's clock and carbon series; holds back deferrable
    pods at any carbon intensity (threshold 0)."""
    return app_config(ten, carbon={"threshold_g_per_kwh": 0.0})


@pytest.fixture(scope="session")
def extender_url(ray_session, ten, extender_config):
    """Base URL of a local Serve running the extender app at /ext (one replica: each costs
    seconds of imports)."""
    from ray import serve

    from marl_alloc.serving.app import build_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    quiet = {"enable_access_log": False, "log_level": "WARNING"}
    app = build_app(extender_config, str(ten.checkpoint))
    serve.run(app, name="ext", route_prefix="/ext", logging_config=quiet)
    yield f"http://127.0.0.1:{port}/ext"
    serve.shutdown()
