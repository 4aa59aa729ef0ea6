"""cluster.yaml files must pass Ray's own autoscaler schema validation."""

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize("path", ["cluster.yaml", "deploy/cluster.local.yaml"])
def test_cluster_config_is_valid_for_ray_up(path):
    config = yaml.safe_load((PROJECT_ROOT / path).read_text())
    validate_config(prepare_config(config))


def test_cluster_yaml_gives_the_learner_a_gpu_and_installs_the_project():
    config = yaml.safe_load((PROJECT_ROOT / "cluster.yaml").read_text())
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"]["GPU"] >= 1
    assert any("pip install" in cmd for cmd in config["setup_commands"])
