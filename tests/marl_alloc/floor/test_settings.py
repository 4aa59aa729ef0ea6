"""The typed settings: each group's YAML states its schema's defaults, and a checkpoint's settings
file reads back as the same objects."""

import dataclasses

import pytest
import yaml

from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.paths import CONF_DIR
from marl_alloc.floor.settings import (
    ClusterConfig,
    ModelConfig,
    ReplayConfig,
    Settings,
    SyntheticEnvConfig,
    TraceEnvConfig,
    TrainingConfig,
    TuneConfig,
)
from marl_alloc.floor.settings.compose import compose_settings


def test_each_groups_yaml_states_its_schemas_defaults():
    settings = compose_settings([])
    assert settings.env == SyntheticEnvConfig()
    assert settings.model == ModelConfig()
    assert settings.training == TrainingConfig()
    assert settings.cluster == ClusterConfig()
    # Training limits sampled/inserted transitions; a bare shard (tests, tools) does not.
    assert dataclasses.replace(settings.replay, samples_per_insert=None) == ReplayConfig()
    tuning = compose_settings(["+tune=default"])
    # The tune group's search space and its trials' mode are its own.
    assert dataclasses.replace(tuning.tune, space={}) == TuneConfig()
    assert tuning.tune.space and tuning.training.local


def test_a_trace_env_is_its_own_schema():
    settings = compose_settings(["env=google2011"])
    assert isinstance(settings.env, TraceEnvConfig)
    assert settings.env.workload.tasks and settings.env.hosts.cpu_overcommit_max == 3.0


def test_saved_settings_read_back_equal(tmp_path):
    for overrides in ([], ["env=azure", "training.lr_leaf=0.002"], ["+tune=default"]):
        settings = compose_settings(overrides)
        assert Settings.load(settings.save(tmp_path / "marl_alloc.yaml")) == settings


def test_saved_settings_take_overrides_and_are_checked(tmp_path):
    path = compose_settings([]).save(tmp_path / "marl_alloc.yaml")
    assert Settings.load(path, ["training.total_env_steps=99"]).training.total_env_steps == 99
    with pytest.raises(ConfigError, match="training.gamma"):
        Settings.load(path, ["training.gamma=2"])
    saved = yaml.safe_load(path.read_text())
    saved["training"]["retired_key"] = 1
    path.write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match="retired_key"):
        Settings.load(path)


def test_with_values_sets_dotted_keys_and_checks_them():
    settings = compose_settings([])
    changed = settings.with_values({"replay.alpha": 0.9, "training.lr_leaf": 0.002})
    assert (changed.replay.alpha, changed.training.lr_leaf) == (0.9, 0.002)
    assert settings.replay.alpha != 0.9  # a copy
    with pytest.raises(ConfigError, match="training.tau"):
        settings.with_values({"training.tau": 0.0})


def test_a_relative_data_dir_resolves_against_the_project_root():
    assert Settings(env=SyntheticEnvConfig(), data_dir="data").data_dir == str(
        CONF_DIR.parent / "data"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.learner_path=adam"], "training.learner_path must be fused or rllib_update"),
        (["training.precision=fp16"], "training.precision must be fp32 or bf16"),
        (["training.batches_per_sample=0"], "training.batches_per_sample must be >= 1"),
        (["training.compile=maybe"], "training.compile"),
        (["training.learner_path=rllib_update", "training.precision=bf16"], "as it was"),
    ],
)
def test_a_wrong_learner_setting_is_a_one_line_error(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        compose_settings(overrides)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.lr=-1", "training.lr must be > 0"),
        ("training.lr=inf", "training.lr must be a finite number"),
        ("training.tau=1.5", r"training.tau must be in \(0, 1\]"),
        ("training.epsilon_base=1.2", r"training.epsilon_base must be in \[0, 1\]"),
        ("training.local=maybe", "training.local"),
        ("training.total_env_steps=abc", "training.total_env_steps"),
        ("env.reward.w_sla=-1", "env.reward.w_sla must be >= 0"),
        ("env.carbon.hourly_noise=nan", "env.carbon.hourly_noise must be a finite number"),
        ("seed=-1", "seed must be >= 0"),
    ],
)
def test_each_nonsense_setting_is_a_one_line_error(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        compose_settings([override])
    assert "\n" not in str(err.value)
