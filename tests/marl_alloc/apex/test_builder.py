"""build_apex_config: the credit-assignment settings and their ablations are one override away."""

from marl_alloc.apex.builder import build_apex_config
from marl_alloc.compose import compose_settings
from marl_alloc.floor import columns as C


def test_the_default_policy_trains_a_mixer_with_the_configured_credit_weight():
    settings = compose_settings([])
    config = build_apex_config(settings)
    assert C.TEAM in config.rl_module_spec.rl_module_specs
    assert C.TEAM in config.policies
    assert config.credit_weight == settings["training"]["credit_weight"]


def test_mixer_none_gives_independent_level_learners_and_credit_weight_zero_no_penalty():
    config = build_apex_config(compose_settings(["model.mixer.kind=none"]))
    assert set(config.rl_module_spec.rl_module_specs) == {"cluster", "rack", "leaf"}
    assert build_apex_config(compose_settings(["training.credit_weight=0.0"])).credit_weight == 0
