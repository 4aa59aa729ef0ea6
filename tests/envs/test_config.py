import pytest

from envs import EnvConfig, EnvConfigError


def test_shipped_yaml_matches_the_dataclass(synthetic_config):
    config = EnvConfig.from_mapping(synthetic_config)
    assert config.topology.hosts_per_leaf == 16
    assert config.hosts.cpu_capacity_choices == (0.5, 1.0)
    assert EnvConfig.from_mapping(config.to_dict()) == config


def test_empty_mapping_gives_defaults():
    assert EnvConfig.from_mapping({}) == EnvConfig()


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
    ],
)
def test_bad_values_fail_with_one_line(mapping, fragment):
    with pytest.raises(EnvConfigError, match=fragment) as info:
        EnvConfig.from_mapping(mapping)
    assert "\n" not in str(info.value)


def test_the_scheduler_estimates_run_times_unless_told_otherwise(synthetic_config):
    assert EnvConfig().knowledge.durations == "estimate"
    assert EnvConfig.from_mapping(synthetic_config).knowledge.durations == "estimate"
