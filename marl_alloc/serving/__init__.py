"""The trained policy as a Kubernetes scheduler extender (kube-scheduler extender v1 over HTTP).

Public API:
    ExtenderService             -- filter / prioritize decisions for one replica (no Ray, no HTTP)
    ServeConfig, serve_settings -- the serve config (conf/serve) and the env a policy runs with
    LevelQPolicy                -- a checkpoint's level Q modules, one forward per level per batch
    RequestError                -- a malformed request (HTTP 400)
    build_app, app_builder      -- the Ray Serve application (imported on first use: Ray Serve)

How nodes are laid onto the policy's shape: marl_alloc.serving.hierarchy and .layout; how the
observations are built: .level_obs, with the hosts' group features kept between calls in
.group_loads; how Q values become scores, asking only for the rows a score depends on: .top_down;
the forecast a policy with a forecaster observes, from the cluster's demand bins: .forecasts and
.cluster_demand.
"""

from marl_alloc.serving.config import ServeConfig
from marl_alloc.serving.errors import RequestError
from marl_alloc.serving.policy import LevelQPolicy
from marl_alloc.serving.service import ExtenderService
from marl_alloc.serving.settings import serve_settings

_SERVE_APP = ("build_app", "app_builder")


def __getattr__(name: str):
    if name in _SERVE_APP:
        from marl_alloc.serving import app

        return getattr(app, name)
    raise AttributeError(f"module 'marl_alloc.serving' has no attribute {name!r}")


__all__ = [
    "ExtenderService",
    "LevelQPolicy",
    "RequestError",
    "ServeConfig",
    "app_builder",
    "build_app",
    "serve_settings",
]
