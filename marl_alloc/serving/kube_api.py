"""The Kubernetes API calls the extender makes, through the `kubernetes` client library: create a
pod's Binding (pods/binding), and list and watch nodes (serve.node_source=watch) and finished
pods (serve.watch_finished_pods) for marl_alloc.serving.informer.

The library does the configuration and the HTTP: in a pod (the KubeRay workers) its in-cluster
loader takes the API server from $KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT and the
service account's token and CA, and reads the token again every minute (bound service account
tokens are rotated under a running pod); serve.kube_api overrides each (an explicit token file is
read on every call). Its Watch follows a watch stream: bookmarks and every event move the
resourceVersion, an ERROR event or an HTTP error becomes an ApiException (410: relist).

Bodies are not turned into the library's model objects, which costs seconds for a 5,000-node list
and milliseconds per watch event: lists and events are decoded with msgspec, as the node cache and
PodRunTimes decode the objects themselves (marl_alloc.serving.node_cache, .run_times).
"""

import os
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import urllib3
from kubernetes import client, watch
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from marl_alloc.floor.errors import UserError
from marl_alloc.serving.config import KubeApiConfig

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CONNECT_TIMEOUT_S = 5.0
# Pods that have ended (a field selector cannot say "Succeeded or Failed").
FINISHED_PODS = "status.phase!=Pending,status.phase!=Running,status.phase!=Unknown"
_END = object()


class KubeApiError(RuntimeError):
    """The API server refused a call (`status`: its HTTP status) or could not be reached (None)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Meta(msgspec.Struct):
    name: str = ""
    resourceVersion: str = ""


class _Head(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _WatchEvent(msgspec.Struct):
    type: str
    object: msgspec.Raw


class _Status(msgspec.Struct):
    code: int = 0
    reason: str = ""
    message: str = ""


class _List(msgspec.Struct):
    items: list[msgspec.Raw]
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class WatchEvent(msgspec.Struct):
    """One watch event: ADDED, MODIFIED, DELETED or BOOKMARK, the object's name, the
    resourceVersion it carries and the object's JSON."""

    type: str
    name: str
    resource_version: str
    object: bytes


_HEAD = msgspec.json.Decoder(_Head)
_EVENT = msgspec.json.Decoder(_WatchEvent)
_STATUS = msgspec.json.Decoder(_Status)
_LIST = msgspec.json.Decoder(_List)


class _RawWatch(watch.Watch):
    """The library's Watch (stream loop, resourceVersion, ERROR events) with events decoded by
    msgspec into WatchEvents instead of model objects."""

    def unmarshal_event(self, data: str, return_type: Any) -> dict[str, Any] | None:
        if not data or data.isspace():
            return None
        try:
            event = _EVENT.decode(data)
            if event.type == "ERROR":
                # The library raises ApiException(status=code) for these.
                status = _STATUS.decode(event.object)
                raw = {"code": status.code, "reason": status.reason, "message": status.message}
                return {"type": "ERROR", "raw_object": raw}
            meta = _HEAD.decode(event.object).metadata
        except msgspec.DecodeError:
            return None  # as the library does with a line that is not JSON
        if meta.resourceVersion:
            self.resource_version = meta.resourceVersion
        watched = WatchEvent(event.type, meta.name, meta.resourceVersion, bytes(event.object))
        return {"type": event.type, "object": watched}


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


def _token_hook(token_file: str):
    """A refresh_api_key_hook that reads the bearer token from `token_file` on every call."""

    def refresh(configuration: client.Configuration) -> None:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as err:
            raise KubeApiError(f"cannot read the API token: {err}") from None
        configuration.api_key["BearerToken"] = f"Bearer {token}"

    return refresh


def _status_message(err: client.ApiException) -> str:
    """The message of the metav1.Status the API server answers errors with."""
    try:
        status = _STATUS.decode(err.body or b"")
    except msgspec.DecodeError:
        return str(err.reason)
    return status.message or str(err.reason)


class KubeApi:
    """Calls to one API server (see the module docstring)."""

    def __init__(self, configuration: client.Configuration, timeout_s: float = 5.0):
        self.configuration = configuration
        self.api_server = configuration.host
        self.timeout_s = timeout_s
        self.core = client.CoreV1Api(client.ApiClient(configuration))

    @classmethod
    def connect(
        cls,
        api_server: str,
        token_file: str | None = None,
        ca_file: str | None = None,
        timeout_s: float = 5.0,
    ) -> "KubeApi":
        """An API server at a URL, with a bearer token file and a CA bundle (https)."""
        configuration = client.Configuration(host=api_server.rstrip("/"))
        # Failures are the caller's to retry (the informer backs off), not urllib3's.
        configuration.retries = False
        if ca_file:
            configuration.ssl_ca_cert = ca_file
        if token_file:
            configuration.refresh_api_key_hook = _token_hook(token_file)
            configuration.api_key["BearerToken"] = ""
        return cls(configuration, timeout_s)

    @classmethod
    def from_config(
        cls, config: KubeApiConfig, environ: Mapping[str, str] = os.environ
    ) -> "KubeApi":
        """The configured API server, else the in-cluster one; UserError outside a pod."""
        if config.api_server is not None:
            server = config.api_server
            if not server.startswith(("http://", "https://")):
                raise UserError(f"serve.kube_api.api_server must be an http(s) URL, got '{server}'")
            _check_ca(config.ca_file)
            return cls.connect(server, config.token_file, config.ca_file, config.timeout_s)
        if not environ.get("KUBERNETES_SERVICE_HOST"):
            raise UserError(
                "serve.bind_verb, serve.node_source=watch and serve.watch_finished_pods need "
                "the Kubernetes API: set "
                "serve.kube_api.api_server (KUBERNETES_SERVICE_HOST is not set, so this is not "
                "a pod)"
            )
        environ = {"KUBERNETES_SERVICE_PORT": "443", **environ}
        token_file = config.token_file or str(SERVICE_ACCOUNT_DIR / "token")
        ca_file = config.ca_file or str(SERVICE_ACCOUNT_DIR / "ca.crt")
        configuration = client.Configuration()
        try:
            InClusterConfigLoader(token_file, ca_file, environ=environ).load_and_set(configuration)
        except ConfigException as err:
            raise UserError(f"serve.kube_api (in-cluster): {err}") from None
        _check_ca(ca_file)
        configuration.retries = False
        return cls(configuration, config.timeout_s)

    def _call(self, call, *args, **kwargs):
        """`call(*args, **kwargs)`, its failures as KubeApiError."""
        try:
            return call(*args, **kwargs)
        except client.ApiException as err:
            message = f"{err.status} {err.reason}: {_status_message(err)}"
            raise KubeApiError(message, err.status) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            reason = getattr(err, "reason", None) or err
            raise KubeApiError(f"cannot reach the API server {self.api_server}: {reason}") from None

    def bind(self, namespace: str, name: str, uid: str, node: str) -> None:
        """Create the pod's Binding to `node`."""
        body = binding_object(namespace, name, uid, node)
        # Raw: the API server answers a Status, which the library cannot read as a V1Binding.
        response = self._call(
            self.core.create_namespaced_pod_binding,
            name,
            namespace,
            client.V1Binding.from_dict(body),
            _preload_content=False,
            _request_timeout=self.timeout_s,
        )
        response.release_conn()

    def _lister(self, resource: str):
        """The library call that lists (and, with watch=True, watches) `resource`, and the
        arguments it takes for it."""
        if resource == "nodes":
            return self.core.list_node, {}
        if resource == "pods":
            return self.core.list_pod_for_all_namespaces, {"field_selector": FINISHED_PODS}
        raise ValueError(f"no list of '{resource}'")

    def list_objects(self, resource: str) -> tuple[str, list[tuple[str, str, bytes]]]:
        """(the list's resourceVersion, (name, resourceVersion, JSON) of every object) of
        `resource`: nodes, or pods that have finished."""
        lister, selection = self._lister(resource)
        response = self._call(
            lister,
            **selection,
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT_S, max(self.timeout_s, 60.0)),
        )
        try:
            listed = _LIST.decode(response.data)
            objects = []
            for raw in listed.items:
                meta = _HEAD.decode(raw).metadata
                objects.append((meta.name, meta.resourceVersion, bytes(raw)))
        except msgspec.DecodeError as err:
            raise KubeApiError(f"the {resource} list is not a list: {err}") from None
        finally:
            response.release_conn()
        return listed.metadata.resourceVersion, objects

    def watch_objects(
        self, resource: str, resource_version: str, timeout_s: float
    ) -> Iterator[WatchEvent]:
        """The events of `resource` after `resource_version` until the API server ends the
        watch after `timeout_s` (its timeoutSeconds); bookmarks included. KubeApiError on
        failure, with status 410 when the resourceVersion is too old."""
        lister, selection = self._lister(resource)
        stream = _RawWatch().stream(
            lister,
            **selection,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=int(timeout_s),
            # Bookmarks come about once a minute: a read waits past the server's own timeout.
            _request_timeout=(CONNECT_TIMEOUT_S, timeout_s + 30),
        )
        while True:
            event = self._call(next, stream, _END)
            if event is _END:
                return
            if event is not None:  # None: a blank line
                yield event["object"]


def _check_ca(ca_file: str | None) -> None:
    """A one-line UserError for a CA bundle that cannot be read (the library would fail on the
    first call)."""
    if ca_file is None:
        return
    try:
        ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as err:
        raise UserError(f"serve.kube_api.ca_file: {err}") from None
