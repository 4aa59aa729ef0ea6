"""build_apex_config: the credit-assignment settings and their ablations are one override away,
and the RLlib config carries the one typed settings object its learner reads."""

from marl_alloc.apex.builder import build_apex_config
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.compose import compose_settings


def test_the_default_policy_trains_a_mixer_with_the_configured_credit_weight():
    settings = compose_settings([])
    config = build_apex_config(settings)
    assert C.TEAM in config.rl_module_spec.rl_module_specs
    assert C.TEAM in config.policies
    assert config.settings is settings


def test_mixer_none_gives_independent_level_learners_and_credit_weight_zero_no_penalty():
    config = build_apex_config(compose_settings(["model.mixer.kind=none"]))
    assert set(config.rl_module_spec.rl_module_specs) == {"cluster", "rack", "leaf"}
    config = build_apex_config(compose_settings(["training.credit_weight=0.0"]))
    assert config.settings.training.credit_weight == 0
