"""KubeRay manifests: schema sanity (API, kinds, required keys) and a train command that works."""

import shlex

import pytest
import yaml

from marl_alloc.floor.settings.compose import compose_settings
from tests.conftest import PROJECT_ROOT

KUBERAY = PROJECT_ROOT / "deploy" / "kuberay"
TRAIN = ["python", "-m", "marl_alloc.train"]


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((KUBERAY / name).read_text()) if d]


def _check_pod_template(template: dict) -> dict:
    """Containers with an image; every mounted volume declared. Returns the pod spec."""
    spec = template["spec"]
    assert spec["containers"], "a pod template needs containers"
    volumes = {v["name"] for v in spec.get("volumes", [])}
    for container in spec["containers"]:
        assert container["name"] and container["image"]
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, f"volume {mount['name']} is mounted, not declared"
    return spec


def _check_ray_cluster_spec(spec: dict) -> None:
    assert spec["rayVersion"] == "2.60.0"  # the Ray the project pins
    head = spec["headGroupSpec"]
    # KubeRay passes rayStartParams to `ray start` and requires string values.
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())
    head_pod = _check_pod_template(head["template"])
    limits = head_pod["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1, "the head hosts the learner: it needs a GPU"
    assert spec["workerGroupSpecs"]
    for group in spec["workerGroupSpecs"]:
        assert group["groupName"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())
        _check_pod_template(group["template"])


def test_raycluster_manifest():
    docs = _docs("raycluster.yaml")
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"PersistentVolumeClaim", "RayCluster"}
    cluster = kinds["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["metadata"]["name"]
    _check_ray_cluster_spec(cluster["spec"])
    claim = kinds["PersistentVolumeClaim"]["metadata"]["name"]
    head_volumes = cluster["spec"]["headGroupSpec"]["template"]["spec"]["volumes"]
    assert claim in {v["persistentVolumeClaim"]["claimName"] for v in head_volumes}


def test_rayjob_runs_the_train_command_with_valid_overrides():
    (job,) = _docs("rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["metadata"]["name"]
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    _check_ray_cluster_spec(spec["rayClusterSpec"])
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == TRAIN
    overrides = [a for a in argv[3:] if not a.startswith("hydra.")]
    settings = compose_settings(overrides)  # a wrong key fails here, not on the cluster
    assert settings.cluster.address == "auto"  # joins the RayJob's cluster
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    gpus = int(head["resources"]["limits"]["nvidia.com/gpu"])
    assert float(settings.training.learner_num_gpus or 1) <= gpus


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_manifests_use_the_image_the_dockerfile_builds(name):
    dockerfile = (KUBERAY / "Dockerfile").read_text()
    tag = dockerfile.split("-t ", 1)[1].split()[0]
    images = {
        line.split("image:", 1)[1].strip()
        for line in (KUBERAY / name).read_text().splitlines()
        if "image:" in line
    }
    assert images == {tag}
