"""`python -m marl_alloc.serve CHECKPOINT [--policy best-fit] [--host H] [--port P] [overrides]`.

Starts Ray Serve with the kube-scheduler extender (marl_alloc.serving) and blocks until Ctrl-C.
Overrides are Hydra-style on the serve group: `serve.deadline_ms=20 serve.deployment.num_replicas=4
serve.carbon.threshold_g_per_kwh=300`. Without a checkpoint, `--policy best-fit` serves the
heuristic (the same answers as the deadline fallback). With `serve.ingress.mode=direct` it also
prints each replica's own URL (Ray Serve direct ingress: no proxy hop).
"""

import argparse
import os
import signal
import socket
import sys
import time

from marl_alloc.floor.errors import UserError, first_line
from marl_alloc.floor.interrupts import run_main


class _Parser(argparse.ArgumentParser):
    # A usage mistake is a user error too: one line and exit 2 (main prints it).
    def error(self, message: str) -> None:
        raise UserError(f"{message} (see {self.prog} --help)")


def _port(text: str) -> int:
    """A TCP port number from the command line."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1..65535)")
    return port


def build_parser(prog: str = "python -m marl_alloc.serve") -> argparse.ArgumentParser:
    """Command-line options of the serve command."""
    parser = _Parser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint", nargs="?", help="a checkpoint dir written by marl_alloc.train"
    )
    parser.add_argument(
        "--policy", default=None, help="serve a heuristic instead: best-fit, worst-fit"
    )
    parser.add_argument("--host", default=None, help="HTTP host (default: serve.http.host)")
    parser.add_argument(
        "--port", type=_port, default=None, help="HTTP port (default: serve.http.port)"
    )
    parser.add_argument("--address", default=None, help="Ray address (default: start a local Ray)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. serve.deadline_ms=20")
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    # Without a checkpoint the first override lands in the optional CHECKPOINT slot.
    if args.checkpoint and "=" in args.checkpoint and not os.path.exists(args.checkpoint):
        args.overrides.insert(0, args.checkpoint)
        args.checkpoint = None
    overrides = list(args.overrides)
    if args.host is not None:
        overrides.append(f"serve.http.host={args.host}")
    if args.port is not None:
        overrides.append(f"serve.http.port={args.port}")
    return overrides


def start(args: argparse.Namespace) -> str:
    """Check the inputs, start Ray Serve with the extender; return its URL and routes (and the
    replicas' own URLs with serve.ingress.mode=direct)."""
    from marl_alloc.serving.service import ExtenderService
    from marl_alloc.serving.settings import serve_settings

    overrides = _overrides(args)
    if bool(args.checkpoint) == bool(args.policy):
        raise UserError("pass a CHECKPOINT or --policy best-fit|worst-fit (one of them)")
    config, env_settings = serve_settings(args.checkpoint, overrides)
    policy = None
    if args.checkpoint:
        from marl_alloc.serving.policy import LevelQPolicy

        policy, _ = LevelQPolicy.from_checkpoint(args.checkpoint)
    # Fail here with one line rather than in every replica's constructor.
    ExtenderService(config, env_settings, policy, args.policy or "best-fit")
    if config.needs_kube_api():
        from marl_alloc.serving.kube_api import KubeApi

        KubeApi.from_config(config.kube_api)

    import ray
    from ray import serve

    from marl_alloc.serving.app import build_app
    from marl_alloc.serving.ingress import prepare_local_ray, replica_urls

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if args.address is None:
        _check_listen(config.http.host, config.http.port)
    if not ray.is_initialized():
        prepare_local_ray(config)
        try:
            ray.init(address=args.address, include_dashboard=False, logging_level="WARNING")
        except (ConnectionError, ValueError, RuntimeError, TimeoutError) as err:
            reason = first_line(err)
            raise UserError(f"cannot start or reach Ray at {args.address}: {reason}") from None
    serve.start(http_options={"host": config.http.host, "port": config.http.port})
    checkpoint = os.path.abspath(args.checkpoint) if args.checkpoint else None
    app = build_app(config, checkpoint, args.policy or "best-fit", env_settings)
    serve.run(
        app,
        name=config.app_name,
        route_prefix=config.route_prefix,
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    prefix = config.route_prefix.rstrip("/")
    verbs = ", ".join(["filter", "prioritize", *([config.bind_verb] if config.bind_verb else [])])
    url = f"http://{config.http.host}:{config.http.port}{prefix}/"
    source = "; nodes from the API server's watch" if config.node_source == "watch" else ""
    routes = f"{url} (POST {verbs}; GET healthz, stats{source})"
    if config.ingress.mode == "direct":
        try:
            direct = replica_urls(config)
        except UserError:
            serve.delete(config.app_name)
            raise
        routes += f"\nreplicas (direct ingress, one hop fewer): {' '.join(direct)}"
    return routes


def _check_listen(host: str, port: int) -> None:
    """A UserError unless this machine can listen on host:port (Serve's proxy would fail later,
    in its own process)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as err:
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def main(argv: list[str] | None = None, prog: str = "python -m marl_alloc.serve") -> int:
    """Serve until interrupted; user errors (bad arguments too) exit 2."""
    try:
        args = build_parser(prog).parse_intermixed_args(argv)
        routes = start(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"extender: {routes}", flush=True)
    # A pod or systemd stops us with SIGTERM: shut Serve and Ray down as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
