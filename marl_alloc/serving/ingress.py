"""Direct ingress: kube-scheduler calls a replica's own HTTP server, skipping Serve's proxy.

The proxy's hop (HTTP proxy -> replica actor call -> answer back) costs ~7-10 ms of a 1,000-node
call on a 2-core machine. Ray Serve's direct ingress is a Ray-wide switch read when Serve's
processes start, so it goes into the environment before Ray starts: `ray_environment` for a local
Ray, the pod env of deploy/rayservice.yaml for a cluster. Each replica of an ingress deployment
then serves the app's routes on its node's next free port from `serve.ingress.first_port`.
"""

import os
import time

from marl_alloc.floor.errors import UserError
from marl_alloc.serving.config import ServeConfig

SWITCH = "RAY_SERVE_ENABLE_DIRECT_INGRESS"
ALL_INTERFACES = ("0.0.0.0", "::", "")
# A replica opens its port while it starts; a running app's may lag its status by a moment.
PORT_WAIT_S = 10.0


def ray_environment(config: ServeConfig) -> dict[str, str]:
    """The environment variables Ray's processes need for `config.ingress` ({} for proxy)."""
    ingress = config.ingress
    if ingress.mode != "direct":
        return {}
    env = {
        SWITCH: "1",
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(ingress.first_port),
        # Exclusive: Serve hands out range(min, max).
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(ingress.first_port + ingress.ports_per_node),
        # Serve holds a released port back for its HAProxy mode's stale routes; without HAProxy
        # that only moves a restarted replica off the port its Service targets.
        "RAY_SERVE_PORT_QUARANTINE_S": "0",
    }
    if ingress.draining_s is not None:
        env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = str(ingress.draining_s)
    return env


def prepare_local_ray(config: ServeConfig) -> None:
    """Put `config`'s ingress switch into this process's environment, which a Ray started from
    it passes to every worker; a no-op for the proxy."""
    os.environ.update(ray_environment(config))


def replica_urls(config: ServeConfig, wait_s: float = PORT_WAIT_S) -> list[str]:
    """Base URLs (with the route prefix) of the running app's replicas on their direct-ingress
    ports; a UserError when the connected Ray runs Serve without direct ingress."""
    from ray import serve

    deadline = time.monotonic() + wait_s
    while True:
        # The targets the Ray dashboard's /api/serve/applications/ lists, asked of the
        # controller directly (the dashboard may be off).
        details = serve.context._get_global_client().get_serve_details()
        targets = [
            target
            for group in details.get("target_groups", [])
            if group.get("app_name") == config.app_name and group.get("protocol") == "HTTP"
            for target in group["targets"]
            if target["name"].startswith("SERVE_REPLICA::")
        ]
        if targets or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if not targets:
        raise UserError(
            f"serve.ingress.mode=direct, but this Ray runs Serve without direct ingress: start "
            f"Ray with {SWITCH}=1 in its environment (deploy/rayservice.yaml sets it on the pods)"
        )
    prefix = config.route_prefix.rstrip("/")
    urls = []
    for target in sorted(targets, key=lambda t: (t["ip"], t["port"])):
        # The replica listens on serve.http.host; only all-interfaces needs the node's address.
        host = target["ip"] if config.http.host in ALL_INTERFACES else config.http.host
        urls.append(f"http://{host}:{target['port']}{prefix}/")
    return urls
