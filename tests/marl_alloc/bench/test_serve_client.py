"""The serve bench's pod load: what it counts, pacing, and moving off a replica that is gone."""

import http.server
import threading

import pytest

from marl_alloc.bench.serve_client import PodLoad, get_json


class _Extender(http.server.BaseHTTPRequestHandler):
    """Answers every POST with 200 (a 503 on /bad/) and keeps connections alive."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        status = 503 if self.path.startswith("/bad/") else 200
        body = b"[]"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Server-Timing", "handler;dur=1.500")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def extender():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Extender)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Extender)
    port = server.server_address[1]
    server.server_close()
    return port


def test_pods_are_a_filter_and_a_prioritize_call_each_paced_to_the_rate(extender):
    figures = PodLoad([f"{extender}/"], b"{}", clients=2, seconds=1.0, rate=20.0).run()
    assert 15 <= figures["pods"] <= 21 and figures["statuses"] == {"200": 2 * figures["pods"]}
    assert figures["replica_call_ms"]["p50"] == 1.5 and figures["unreachable"] == 0
    assert get_json(f"{extender}/stats") == {"ok": True}


def test_a_client_whose_replica_is_gone_moves_to_the_next(extender):
    gone = f"http://127.0.0.1:{closed_port()}/"
    figures = PodLoad([gone, f"{extender}/"], b"{}", clients=2, seconds=0.5).run()
    # The client sent to the dead port counted it once, then sent all its pods to the other.
    assert figures["unreachable"] == 1 and figures["pods"] > 2
    assert set(figures["statuses"]) == {"200"}


def test_server_errors_are_counted_not_hidden(extender):
    figures = PodLoad([f"{extender}/bad/"], b"{}", clients=1, seconds=0.2).run()
    assert figures["statuses"] == {"503": 2 * figures["pods"]}
