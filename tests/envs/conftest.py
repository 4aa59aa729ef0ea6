"""Env configs for the simulator tests: the shipped synthetic.yaml and a small topology."""

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

CONF_ENV = Path(__file__).resolve().parents[2] / "conf" / "env"


def load_env_yaml(name: str = "synthetic") -> dict:
    """conf/env/NAME.yaml's settings as a plain dict (without Hydra's defaults list)."""
    config = yaml.safe_load((CONF_ENV / f"{name}.yaml").read_text())
    config.pop("defaults")
    return config


@pytest.fixture
def synthetic_config() -> dict:
    """The shipped default env config."""
    return load_env_yaml()


@pytest.fixture
def small_config() -> dict:
    """2 racks x 2 leaf groups x 4 hosts, with a workload scaled to match."""
    config = copy.deepcopy(load_env_yaml())
    config["topology"] = {
        "num_clusters": 1,
        "racks_per_cluster": 2,
        "leaves_per_rack": 2,
        "hosts_per_leaf": 4,
    }
    config["workload"]["arrival_rate_per_s"] = 0.15
    config["episode_tasks"] = 60
    return config


def random_actions(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """A uniformly random allowed action per row."""
    return np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
