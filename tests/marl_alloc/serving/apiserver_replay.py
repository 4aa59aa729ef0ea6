"""A stand-in for kube-apiserver that answers with recorded responses (apiserver_traffic/).

No API server can run here (no apiserver binary, no container engine, no network beyond package
indexes), so the responses are transcribed in the shapes kube-apiserver v1.30 sends for
GET /api/v1/nodes: a v1.NodeList whose items carry no kind, a watch stream of WatchEvents (objects
with kind and apiVersion, BOOKMARKs with only a resourceVersion, an ERROR event holding a
metav1.Status), and a 410 Gone with its Status body. They are sent as the API server sends them:
HTTP/1.1 keep-alive, a watch as a chunked stream of JSON lines. Each request gets the next
response in order and is recorded.
"""

import dataclasses
import http.server
import threading
import urllib.parse
from pathlib import Path

TRAFFIC = Path(__file__).parent / "apiserver_traffic"
WAIT_S = 10.0
HEADERS = {
    "Audit-Id": "0b4f5c1e-3f0a-4a2b-9c6d-7e8f9a0b1c2d",
    "Cache-Control": "no-cache, private",
    "Content-Type": "application/json",
    "X-Kubernetes-Pf-Flowschema-Uid": "5b0c3e0a-6d1f-4d2a-8d3f-1f2e3d4c5b6a",
    "X-Kubernetes-Pf-Prioritylevel-Uid": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
}


@dataclasses.dataclass
class Exchange:
    """One recorded response: a JSON document with its status, or a watch stream of JSON lines;
    `hold`: the stream then stays open (a quiet watch); `gate`: answered once it is set."""

    status: int = 200
    document: str | None = None
    stream: str | None = None
    hold: bool = False
    gate: threading.Event | None = None


@dataclasses.dataclass
class Request:
    """A request the client made."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased


class ApiServerReplay(http.server.ThreadingHTTPServer):
    """Answers the n-th request with exchanges[n] (see the module docstring)."""

    def __init__(self, exchanges: list[Exchange]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.exchanges = exchanges
        self.requests: list[Request] = []
        self.closing = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_exchange(self, request: Request) -> Exchange:
        with self._lock:
            self.requests.append(request)
            return self.exchanges[len(self.requests) - 1]

    def close(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        server: ApiServerReplay = self.server
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        headers = {name.lower(): value for name, value in self.headers.items()}
        exchange = server.next_exchange(Request("GET", parts.path, query, headers))
        if exchange.gate is not None:
            exchange.gate.wait(WAIT_S)
        self.send_response(exchange.status)
        for name, value in HEADERS.items():
            self.send_header(name, value)
        if exchange.document is not None:
            body = (TRAFFIC / exchange.document).read_bytes()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        lines = (TRAFFIC / exchange.stream).read_bytes().splitlines(True) if exchange.stream else []
        for line in lines:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        if exchange.hold:
            server.closing.wait()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def log_message(self, *args):
        pass
