"""The Kubernetes API calls the extender makes: create a pod's Binding (pods/binding), and list
and watch nodes (serve.node_source=watch, marl_alloc.serving.node_informer).

In a pod (the KubeRay workers) the API server, bearer token and CA come from the standard
in-cluster places: $KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT and the service account
files; serve.kube_api overrides each. The token file is read on every call because bound service
account tokens are rotated under a running pod.
"""

import contextlib
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from marl_alloc.floor.errors import UserError
from marl_alloc.serving.config import KubeApiConfig

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeApiError(RuntimeError):
    """The API server refused a call (`status`: its HTTP status) or could not be reached (None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def binding_object(namespace: str, name: str, uid: str, node: str) -> dict[str, Any]:
    """The v1.Binding kube-scheduler's DefaultBinder creates: the pod's name, namespace and uid
    (the API server refuses a binding for another pod of the same name), the node as target."""
    metadata = {"name": name, "namespace": namespace}
    if uid:
        metadata["uid"] = uid
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": metadata,
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }


class KubeApi:
    """POSTs to the Kubernetes API with a bearer token (see the module docstring)."""

    def __init__(
        self,
        api_server: str,
        token_file: str | None = None,
        ca_file: str | None = None,
        timeout_s: float = 5.0,
    ):
        self.api_server = api_server.rstrip("/")
        self.token_file = token_file
        self.timeout_s = timeout_s
        self._tls = None
        if self.api_server.startswith("https://"):
            self._tls = ssl.create_default_context(cafile=ca_file)

    @classmethod
    def from_config(
        cls, config: KubeApiConfig, environ: Mapping[str, str] = os.environ
    ) -> "KubeApi":
        """The configured API server, else the in-cluster one; UserError outside a pod."""
        server = config.api_server
        in_cluster = server is None
        if in_cluster:
            host = environ.get("KUBERNETES_SERVICE_HOST")
            port = environ.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise UserError(
                    "serve.bind_verb and serve.node_source=watch need the Kubernetes API: set "
                    "serve.kube_api.api_server "
                    "(KUBERNETES_SERVICE_HOST is not set, so this is not a pod)"
                )
            server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        token_file = config.token_file
        ca_file = config.ca_file
        if in_cluster:
            token_file = token_file or str(SERVICE_ACCOUNT_DIR / "token")
            ca_file = ca_file or str(SERVICE_ACCOUNT_DIR / "ca.crt")
        if not server.startswith(("http://", "https://")):
            raise UserError(f"serve.kube_api.api_server must be an http(s) URL, got '{server}'")
        try:
            return cls(server, token_file, ca_file, config.timeout_s)
        except (OSError, ssl.SSLError) as err:
            raise UserError(f"serve.kube_api.ca_file: {err}") from None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token_file:
            try:
                token = Path(self.token_file).read_text().strip()
            except OSError as err:
                raise KubeApiError(f"cannot read the API token: {err}") from None
            headers["Authorization"] = f"Bearer {token}"
        return headers

    @contextlib.contextmanager
    def _open(
        self, path: str, body: bytes | None = None, timeout_s: float | None = None
    ) -> Iterator[Any]:
        """The open HTTP response of a GET (or a POST of `body`); KubeApiError on failure."""
        request = urllib.request.Request(
            self.api_server + path,
            data=body,
            headers=self._headers(),
            method="GET" if body is None else "POST",
        )
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            response = urllib.request.urlopen(request, timeout=timeout, context=self._tls)
        except urllib.error.HTTPError as err:
            message = f"{err.code} {err.reason}: {_status_message(err)}"
            raise KubeApiError(message, err.code) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise KubeApiError(f"cannot reach the API server {self.api_server}: {reason}") from None
        with response:
            try:
                yield response
            except OSError as err:
                raise KubeApiError(f"{self.api_server}{path}: {err}") from None

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` as JSON to `path`; KubeApiError with the API's own message on failure."""
        with self._open(path, json.dumps(body).encode()) as response:
            answer = response.read()
        try:
            return json.loads(answer) if answer else {}
        except ValueError:
            return {}

    def get(self, path: str) -> bytes:
        """The body of a GET of `path` (JSON, decoded by the caller)."""
        with self._open(path) as response:
            return response.read()

    @contextlib.contextmanager
    def watch(self, path: str, timeout_s: float) -> Iterator[Iterator[bytes]]:
        """The lines of a watch stream (one WatchEvent each); reads wait up to `timeout_s`."""
        with self._open(path, timeout_s=timeout_s) as response:
            yield iter(response.readline, b"")

    def bind(self, namespace: str, name: str, uid: str, node: str) -> None:
        """Create the pod's Binding to `node`."""
        quote = urllib.parse.quote
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}/binding"
        self.post(path, binding_object(namespace, name, uid, node))


def _status_message(err: urllib.error.HTTPError) -> str:
    """The message of the metav1.Status the API server answers errors with."""
    try:
        status = json.loads(err.read())
    except ValueError:
        return str(err.reason)
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return str(err.reason)
