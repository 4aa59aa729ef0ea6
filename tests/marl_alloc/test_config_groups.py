"""Every Hydra group has its settings class as schema: Hydra itself rejects a wrong type or an
unknown key in any group, as one line naming the key; ranges are checked once, when the
entry point builds the settings."""

import pytest

from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.settings.compose import compose_forecast_settings, compose_settings
from marl_alloc.train import check_overrides

# Per group: the overrides that select it, a typed key of it, and a mapping inside it.
GROUP_KEYS = {
    "env (synthetic)": ([], "env.topology.hosts_per_leaf", "env.workload"),
    "env (trace)": (["env=google2011"], "env.workload.load_factor", "env.workload"),
    "model": ([], "model.policy.embed_dim", "model.forecaster.net"),
    "replay": ([], "replay.capacity", "replay"),
    "training": ([], "training.total_env_steps", "training"),
    "cluster": ([], "cluster.num_cpus", "cluster"),
    "tune": (["+tune=default"], "tune.population_size", "tune.eval"),
}


def _one_line_error(overrides: list[str], *fragments: str) -> str:
    with pytest.raises(ConfigError) as info:
        compose_settings(overrides)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("group", GROUP_KEYS)
def test_a_wrong_type_in_any_group_is_a_one_line_error_naming_the_key(group):
    selection, typed_key, _ = GROUP_KEYS[group]
    _one_line_error([*selection, f"{typed_key}=lots"], typed_key, "lots")


@pytest.mark.parametrize("group", GROUP_KEYS)
def test_an_unknown_key_in_any_group_is_a_one_line_error_naming_it(group):
    selection, _, parent = GROUP_KEYS[group]
    _one_line_error([*selection, f"{parent}.no_such_key=1"], f"{parent}.no_such_key")


def test_a_synthetic_key_is_unknown_to_a_trace_workload():
    _one_line_error(["env=azure", "env.workload.arrival_rate_per_s=2"], "arrival_rate_per_s")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("serve.deadline_ms=soon", "serve.deadline_ms"), ("serve.no_such_key=1", "no_such_key")],
)
def test_the_serve_group_has_the_extenders_schema(override, fragment):
    from marl_alloc.serving.settings import serve_settings

    with pytest.raises(ConfigError, match=fragment) as info:
        serve_settings(None, [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("train.max_epochs=many", "train.max_epochs"), ("data.no_such_key=1", "data.no_such_key")],
)
def test_the_forecast_config_has_its_schema(override, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        compose_forecast_settings([override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("training.lr=-0.001", "training.lr must be > 0"),
        ("training.tau=1.5", "training.tau must be in (0, 1]"),
        ("training.tau=0", "training.tau must be in (0, 1]"),
        ("training.epsilon_base=-0.1", "training.epsilon_base must be in [0, 1]"),
        ("training.local=maybe", "training.local"),
        ("training.total_env_steps=abc", "training.total_env_steps"),
        ("replay.capacity=0", "replay.capacity must be >= replay.num_shards"),
        ("env.defer_delay_s=0", "env.defer_delay_s must be > 0"),
    ],
)
def test_train_refuses_bad_settings_with_one_line_and_exit_2(capsys, override, fragment):
    with pytest.raises(SystemExit) as exit_:
        check_overrides([override])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err


def test_hydras_own_flags_are_left_to_hydra():
    check_overrides(["--cfg", "job", "training.lr=-1"])
