"""A fake Kubernetes API server for the node informer: GET /api/v1/nodes answers the current
node list; each watch request plays the next queued script (WatchEvents, then the stream ends;
or an HTTP status such as 410 Gone)."""

import http.server
import json
import queue
import threading
import urllib.parse
from typing import Any

SCRIPT_WAIT_S = 10.0


class FakeNodeApi(http.server.ThreadingHTTPServer):
    """Serves `nodes` as a v1.NodeList at `resource_version`; watches play `scripts`."""

    def __init__(self, nodes: list[dict[str, Any]] | None = None, resource_version: str = "10"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.nodes = list(nodes or [])
        self.resource_version = resource_version
        self.list_status = 200
        self.scripts: queue.Queue[list[dict[str, Any]] | int] = queue.Queue()
        self.paths: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FakeNodeApi":
        self._thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        server: FakeNodeApi = self.server
        server.paths.append(self.path)
        if not is_watch(self.path):
            node_list = {
                "kind": "NodeList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": server.resource_version},
                "items": server.nodes,
            }
            status = server.list_status
            self._send(status, node_list if status == 200 else _status(status))
            return
        try:
            script = server.scripts.get(timeout=SCRIPT_WAIT_S)
        except queue.Empty:
            script = []
        if isinstance(script, int):
            self._send(script, _status(script))
            return
        # HTTP/1.0 without Content-Length: the stream is the body until the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        for event in script:
            self.wfile.write(json.dumps(event).encode() + b"\n")
            self.wfile.flush()

    def _send(self, status: int, document: dict) -> None:
        send_json(self, status, document)

    def log_message(self, *args):
        pass


def is_watch(path: str) -> bool:
    """Whether a request path asks for a watch (`watch=1` or `watch=true`, as the API server
    reads them)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return query.get("watch", [""])[0] in ("1", "true")


def send_json(handler: http.server.BaseHTTPRequestHandler, status: int, document: Any) -> None:
    """Answer `handler`'s request with `document` as JSON."""
    body = json.dumps(document).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _status(code: int) -> dict[str, Any]:
    return {"kind": "Status", "status": "Failure", "code": code, "message": f"fake {code}"}


def event(kind: str, node: dict[str, Any]) -> dict[str, Any]:
    """A WatchEvent of `kind` (ADDED, MODIFIED, DELETED, BOOKMARK) carrying `node`."""
    return {"type": kind, "object": node}


def gone_event() -> dict[str, Any]:
    """The ERROR event a watch gets when its resourceVersion was compacted away."""
    return {"type": "ERROR", "object": _status(410)}
