"""deploy/ manifests: kinds, apiVersions, required keys, and that they point at what we serve."""

import http.server
import importlib
import re
import subprocess
import sys
import threading

import pytest
import ray
import yaml

from marl_alloc.serving.ingress import ray_environment
from marl_alloc.serving.service import VERBS
from marl_alloc.serving.settings import serve_settings
from tests.conftest import PROJECT_ROOT

# k8s.io/kube-scheduler/config/v1 Extender json tags.
EXTENDER_KEYS = {
    "urlPrefix",
    "filterVerb",
    "preemptVerb",
    "prioritizeVerb",
    "weight",
    "bindVerb",
    "enableHTTPS",
    "tlsConfig",
    "httpTimeout",
    "nodeCacheCapable",
    "managedResources",
    "ignorable",
}
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")


def load_all(path: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((PROJECT_ROOT / path).read_text()) if doc]


def test_scheduler_configuration_registers_the_extender_verbs():
    (config,) = load_all("deploy/kube-scheduler/extender-config.yaml")
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert config["kind"] == "KubeSchedulerConfiguration"
    assert [p["schedulerName"] for p in config["profiles"]] == ["marl-alloc-scheduler"]
    (extender,) = config["extenders"]
    assert set(extender) <= EXTENDER_KEYS
    assert extender["urlPrefix"].startswith("http")
    assert {extender["filterVerb"], extender["prioritizeVerb"]} == set(VERBS)
    assert "bindVerb" not in extender  # off by default, as serve.bind_verb
    assert 1 <= extender["weight"] <= 100
    assert DURATION.match(extender["httpTimeout"])
    assert extender["nodeCacheCapable"] is True and extender["ignorable"] is True


def test_node_cache_capable_goes_with_the_watched_node_source():
    """NodeNames-only calls need the extender to know the nodes itself."""
    (config,) = load_all("deploy/kube-scheduler/extender-config.yaml")
    (service,) = load_all("deploy/rayservice.yaml")
    (app,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    serve_config, _ = serve_settings(None, app["args"]["overrides"])
    expected = "watch" if config["extenders"][0]["nodeCacheCapable"] else "request"
    assert serve_config.node_source == expected


def test_the_optional_bind_verb_is_the_one_serve_would_serve():
    text = (PROJECT_ROOT / "deploy/kube-scheduler/extender-config.yaml").read_text()
    enabled = re.sub(r"#\s*(bindVerb:)", r"\1", text)
    (extender,) = yaml.safe_load(enabled)["extenders"]
    assert set(extender) <= EXTENDER_KEYS
    config, _ = serve_settings(None, [f"serve.bind_verb={extender['bindVerb']}"])
    assert config.bind_verb == extender["bindVerb"]


def test_extender_pods_run_as_a_service_account_that_may_watch_nodes_and_pods_and_bind():
    docs = {doc["kind"]: doc for doc in load_all("deploy/extender-rbac.yaml")}
    (service,) = load_all("deploy/rayservice.yaml")
    account = docs["ServiceAccount"]["metadata"]
    assert account["namespace"] == service["metadata"]["namespace"]
    cluster = service["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    assert {p["template"]["spec"]["serviceAccountName"] for p in pods} == {account["name"]}
    assert docs["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]},
    ]
    binding = docs["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", **account}]


def test_second_scheduler_runs_that_configuration():
    docs = {doc["kind"]: doc for doc in load_all("deploy/kube-scheduler/scheduler.yaml")}
    assert {"ServiceAccount", "ClusterRoleBinding", "RoleBinding", "Deployment"} <= set(docs)
    deployment = docs["Deployment"]
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    (container,) = spec["containers"]
    assert "--config=/etc/marl-alloc/extender-config.yaml" in container["command"]
    assert spec["volumes"][0]["configMap"]["name"] == "marl-alloc-scheduler-config"


def test_rayservice_serves_our_app_builder_with_valid_overrides():
    from ray.serve.schema import ServeDeploySchema

    (service,) = load_all("deploy/rayservice.yaml")
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    serve_config = ServeDeploySchema.model_validate(
        yaml.safe_load(service["spec"]["serveConfigV2"])
    )
    (app,) = serve_config.applications
    module, name = app.import_path.split(":")
    assert callable(getattr(importlib.import_module(module), name))
    assert app.args["checkpoint"].startswith("/")
    config, _ = serve_settings(None, app.args["overrides"])
    assert config.deadline_ms > 0 and config.bind_verb is None
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__
    head = cluster["headGroupSpec"]
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())
    assert head["template"]["spec"]["containers"]
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"] and group["template"]["spec"]["containers"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def _rayservice_config():
    (service,) = load_all("deploy/rayservice.yaml")
    (app,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    config, _ = serve_settings(None, app["args"]["overrides"])
    return service, config


def test_extender_url_reaches_the_replicas_own_ports_through_the_direct_service():
    (config,) = load_all("deploy/kube-scheduler/extender-config.yaml")
    (direct,) = load_all("deploy/extender-service.yaml")
    service, serve_config = _rayservice_config()
    assert serve_config.ingress.mode == "direct"
    assert direct["kind"] == "Service"
    meta, (port,) = direct["metadata"], direct["spec"]["ports"]
    assert meta["namespace"] == service["metadata"]["namespace"]
    host = f"{meta['name']}.{meta['namespace']}.svc.cluster.local:{port['port']}"
    assert config["extenders"][0]["urlPrefix"] == f"http://{host}/"
    (group,) = service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    template = group["template"]
    assert direct["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # The first replica on a pod takes first_port: one replica per worker pod.
    assert ports[port["targetPort"]] == serve_config.ingress.first_port
    probe = container["readinessProbe"]["exec"]["command"]
    assert f"{serve_config.ingress.first_port}," in probe[-1] and '"/healthz"' in probe[-1]
    deployment = serve_config.deployment
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"]
    assert group["replicas"] == deployment.num_replicas
    assert float(group["rayStartParams"]["num-cpus"]) == deployment.num_cpus


def test_every_ray_pod_has_the_environment_of_the_configured_ingress():
    service, serve_config = _rayservice_config()
    cluster = service["spec"]["rayClusterConfig"]
    expected = ray_environment(serve_config)
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        (container,) = group["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert env.items() >= expected.items()


def test_kuberays_proxy_service_name_is_the_one_the_config_mentions():
    text = (PROJECT_ROOT / "deploy/kube-scheduler/extender-config.yaml").read_text()
    (service,) = load_all("deploy/rayservice.yaml")
    meta = service["metadata"]
    host = f"{meta['name']}-serve-svc.{meta['namespace']}.svc.cluster.local:8000"
    assert f"http://{host}/" in text


def test_default_serve_config_loads():
    config, env = serve_settings(None)
    assert config.carbon.hold_by == "threshold" and env["topology"]["hosts_per_leaf"] > 0


class _Health(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    status = 200
    connection_headers: list[str | None] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        _Health.connection_headers.append(self.headers.get("Connection"))
        self.send_response(_Health.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [200, 503])
def test_the_readiness_probe_asks_healthz_and_leaves_closing_to_itself(status):
    service, serve_config = _rayservice_config()
    (group,) = service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    (container,) = group["template"]["spec"]["containers"]
    command = container["readinessProbe"]["exec"]["command"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Health.status, _Health.connection_headers = status, []
    try:
        port = str(serve_config.ingress.first_port)
        local = [*command[:-1], command[-1].replace(port, str(server.server_address[1]))]
        done = subprocess.run([sys.executable, *local[1:]], timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == (0 if status == 200 else 1)
    # A keep-alive request: the replica does not close first, so its port keeps no TIME_WAIT.
    assert _Health.connection_headers == [None]
