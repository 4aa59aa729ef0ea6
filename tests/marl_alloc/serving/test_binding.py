"""The bind verb against a fake Kubernetes API server: the Binding POSTed, API errors in the
answer's Error (never a 500), malformed requests a 400, and the route off by default."""

import http.server
import json
import shutil
import threading

import pytest
import requests

from marl_alloc.floor.errors import UserError
from marl_alloc.serving.binding import Binder
from marl_alloc.serving.config import KubeApiConfig, ServeConfig
from marl_alloc.serving.kube_api import KubeApi
from tests.marl_alloc.serving.fake_kube_api import send_json

BIND = {"PodName": "web-1", "PodNamespace": "shop", "PodUID": "uid-1", "Node": "node-7"}


class FakeApiServer(http.server.ThreadingHTTPServer):
    """Records every request; answers `status` with `answer` as JSON."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.status, self.answer = 201, {"kind": "Status", "status": "Success"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers["Content-Length"])
        self.server.requests.append(
            {
                "path": self.path,
                "headers": self.headers,  # names case-insensitive, as in HTTP
                "body": json.loads(self.rfile.read(length)),
            }
        )
        send_json(self, self.server.status, self.server.answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def api_server():
    server = FakeApiServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def binder(api_server, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    return Binder(KubeApi.connect(api_server.url, token_file=str(token), timeout_s=5))


def test_bind_posts_the_pods_binding_with_the_token(api_server, binder):
    status, answer = binder.handle(json.dumps(BIND).encode())
    assert status == 200 and json.loads(answer) == {"Error": ""}
    (request,) = api_server.requests
    assert request["path"] == "/api/v1/namespaces/shop/pods/web-1/binding"
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["body"] == {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "uid-1"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-7"},
    }
    assert binder.metrics.counts["bindings/bound"] == 1


def test_api_errors_come_back_in_the_result_error(api_server, binder):
    api_server.status = 409
    api_server.answer = {"kind": "Status", "message": 'pod web-1 is already assigned to node "n"'}
    status, answer = binder.handle(json.dumps(BIND).encode())
    error = json.loads(answer)["Error"]
    assert status == 200
    assert "409" in error and "already assigned" in error and "shop/web-1" in error
    assert binder.metrics.counts["bindings/failed"] == 1


def test_an_unreachable_api_server_is_an_error_not_a_crash(api_server, binder):
    api_server.shutdown()
    api_server.server_close()
    status, answer = binder.handle(json.dumps(BIND).encode())
    assert status == 200 and "cannot reach the API server" in json.loads(answer)["Error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "Expected `object`"),
        (b'{"PodName": "a", "PodNamespace": "b"}', "Node"),
        (b'{"PodName": 1, "PodNamespace": "b", "Node": "n"}', "PodName"),
        (b'{"PodName": "", "PodNamespace": "b", "Node": "n"}', "PodName is empty"),
    ],
)
def test_malformed_binding_args_are_400(api_server, binder, body, message):
    status, answer = binder.handle(body)
    assert status == 400 and message in json.loads(answer)["Error"]
    assert api_server.requests == []


def test_in_cluster_api_from_the_service_account(tmp_path, monkeypatch):
    import certifi

    monkeypatch.setattr("marl_alloc.serving.kube_api.SERVICE_ACCOUNT_DIR", tmp_path)
    (tmp_path / "token").write_text("t")
    shutil.copy(certifi.where(), tmp_path / "ca.crt")
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    api = KubeApi.from_config(KubeApiConfig(), environ)
    assert api.api_server == "https://10.96.0.1:443"
    assert api.configuration.ssl_ca_cert == str(tmp_path / "ca.crt")
    assert api.configuration.get_api_key_with_prefix("BearerToken") == "bearer t"
    # A rotated token is read again (the library's loader: once a minute).
    assert api.configuration.refresh_api_key_hook is not None
    ipv6 = KubeApi.from_config(KubeApiConfig(), {"KUBERNETES_SERVICE_HOST": "fd00::1"})
    assert ipv6.api_server == "https://[fd00::1]:443"


@pytest.mark.parametrize(
    ("config", "environ", "message"),
    [
        (KubeApiConfig(), {}, "serve.kube_api.api_server"),
        (KubeApiConfig(api_server="10.0.0.1:6443"), {}, r"http\(s\) URL"),
        (KubeApiConfig(api_server="https://k", ca_file="/no/such/ca.crt"), {}, "ca_file"),
    ],
)
def test_api_settings_that_cannot_work_are_user_errors(config, environ, message):
    with pytest.raises(UserError, match=message):
        KubeApi.from_config(config, environ)


@pytest.mark.parametrize("verb", ["filter", "a/b", ""])
def test_bind_verb_must_be_a_free_path_segment(verb):
    with pytest.raises(UserError, match="bind_verb"):
        ServeConfig.from_mapping({"bind_verb": verb})


@pytest.mark.ray
def test_the_replica_serves_bind_when_configured(ray_session, ten, api_server):
    from tests.marl_alloc.serving.test_deadline import call, replica_for

    replica = replica_for(ten, bind_verb="bind", kube_api={"api_server": api_server.url})
    assert call(replica, "POST", "/ext/bind", BIND) == (200, {"Error": ""})
    assert api_server.requests[0]["path"] == "/api/v1/namespaces/shop/pods/web-1/binding"
    status, answer = call(replica, "POST", "/ext/bind", {"PodName": "x"})
    assert status == 400 and answer["Error"]
    assert call(replica, "GET", "/ext/bind")[0] == 405


@pytest.mark.ray
def test_bind_is_a_404_while_off(extender_url):
    reply = requests.post(f"{extender_url}/bind", json=BIND, timeout=30)
    assert reply.status_code == 404 and "serve.bind_verb" in reply.json()["Error"]
