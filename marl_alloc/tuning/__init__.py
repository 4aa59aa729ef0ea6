"""Population Based Training of the Ape-X policy: search space, the Tune trial, the preset."""

from marl_alloc.tuning.preset import TrialRow, format_table, preset_path, write_preset
from marl_alloc.tuning.space import (
    Hyperparameter,
    check_keys_exist,
    clip_config,
    flatten,
    hyperparam_mutations,
    param_space,
    parse_space,
)
from marl_alloc.tuning.trial import ApexTrial, greedy_score, trial_resources

__all__ = [
    "ApexTrial",
    "Hyperparameter",
    "TrialRow",
    "check_keys_exist",
    "clip_config",
    "flatten",
    "format_table",
    "greedy_score",
    "hyperparam_mutations",
    "param_space",
    "parse_space",
    "preset_path",
    "trial_resources",
    "write_preset",
]
