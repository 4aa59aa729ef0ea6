import pytest

from envs import EnvConfig, EnvConfigError
from marl_alloc.floor.settings import SyntheticEnvConfig, TraceEnvConfig, to_plain


def test_shipped_yaml_matches_the_dataclass(synthetic_config):
    config = EnvConfig.from_mapping(synthetic_config)
    assert config == SyntheticEnvConfig()
    assert EnvConfig.from_mapping(to_plain(config)) == config


def test_empty_mapping_gives_the_synthetic_defaults():
    assert EnvConfig.from_mapping({}) == SyntheticEnvConfig()


def test_the_workload_kind_picks_the_schema():
    trace = EnvConfig.from_mapping({"workload": {"kind": "azure", "tasks": ["vmtable.csv"]}})
    assert isinstance(trace, TraceEnvConfig) and trace.workload.mode == "sample"


def test_omegaconf_mapping_is_accepted(synthetic_config):
    from omegaconf import OmegaConf

    config = EnvConfig.from_mapping(OmegaConf.create(synthetic_config))
    assert config == EnvConfig.from_mapping(synthetic_config)


@pytest.mark.parametrize(
    "mapping, fragment",
    [
        ({"toplogy": {}}, "env.toplogy"),
        ({"hosts": {"idle_wats": 1}}, "env.hosts.idle_wats"),
        ({"workload": {"kind": "synthetic", "rate": 2}}, "env.workload.rate"),
        # A trace's keys are not a synthetic workload's.
        ({"workload": {"kind": "synthetic", "tasks": ["a.csv"]}}, "env.workload.tasks"),
    ],
)
def test_unknown_keys_fail_with_the_key_named(mapping, fragment):
    with pytest.raises(EnvConfigError, match=fragment) as info:
        EnvConfig.from_mapping(mapping)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "mapping, fragment",
    [
        ({"topology": {"hosts_per_leaf": 0}}, "hosts_per_leaf"),
        ({"topology": {"hosts_per_leaf": 2.5}}, "hosts_per_leaf"),
        ({"max_defers": "many"}, "max_defers"),
        ({"workload": {"kind": "nope"}}, "workload.kind"),
        ({"hosts": {"idle_watts": 200.0}}, "idle_watts"),
        ({"workload": {"priority_probs": [0.5, 0.1]}}, "priority_probs"),
        ({"knowledge": {"durations": "psychic"}}, "knowledge.durations"),
        ({"knowledge": {"prior_sigma": 0}}, "prior_sigma"),
        ({"hosts": {"cpu_overcommit": 2.0, "cpu_overcommit_max": 1.5}}, "cpu_overcommit_max"),
        ({"workload": {"kind": "google2011"}}, "env.workload.tasks names no file"),
    ],
)
def test_bad_values_fail_with_one_line(mapping, fragment):
    with pytest.raises(EnvConfigError, match=fragment) as info:
        EnvConfig.from_mapping(mapping)
    assert "\n" not in str(info.value)


def test_the_scheduler_estimates_run_times_unless_told_otherwise(synthetic_config):
    assert EnvConfig().knowledge.durations == "estimate"
    assert EnvConfig.from_mapping(synthetic_config).knowledge.durations == "estimate"
