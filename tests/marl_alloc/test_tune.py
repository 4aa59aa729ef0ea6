"""`python -m marl_alloc.tune`: the search space, bad input, PBT's exploit in one trial, and a tiny
real PBT run that perturbs and writes a preset train can compose."""

import dataclasses
import shutil

import pytest
from hydra import compose, initialize_config_dir

from marl_alloc.floor.errors import UserError
from marl_alloc.floor.paths import CONF_DIR
from marl_alloc.floor.settings import Settings
from marl_alloc.floor.settings.compose import compose_settings, register_schemas
from marl_alloc.floor.settings.tune import TuneEvalConfig
from marl_alloc.tune import TUNE_GROUP, main, run_tuning
from marl_alloc.tuning import (
    ApexTrial,
    check_keys_exist,
    clip_config,
    flatten,
    parse_space,
)
from tests.marl_alloc.tiny_run import TINY_RUN

SPACE = {
    "training": {
        "lr_leaf": {"distribution": "loguniform", "low": 1e-4, "high": 3e-3},
        "n_step": {"distribution": "choice", "values": [1, 3]},
    },
    "replay": {"alpha": {"distribution": "uniform", "low": 0.3, "high": 1.0}},
}
# Keys every config has, instead of the default space's (`tune.space` itself is a setting:
# its groups are dropped, not the key).
TINY_SPACE = [
    "~tune.space.training",
    "~tune.space.replay",
    "+tune.space.training.lr_leaf={distribution:loguniform,low:1e-4,high:3e-3}",
    "+tune.space.replay.alpha={distribution:uniform,low:0.3,high:1.0}",
]


def test_space_is_a_tree_of_distributions_mirroring_the_config():
    params = {p.key: p for p in parse_space(SPACE)}
    assert set(params) == {"training.lr_leaf", "training.n_step", "replay.alpha"}
    assert params["training.lr_leaf"].distribution == "loguniform"
    assert params["training.n_step"].mutation() == [1, 3]
    config = {"training": {"lr_leaf": 0.01, "n_step": 3}, "replay": {"alpha": 0.1}}
    clipped = clip_config(list(params.values()), config)
    assert flatten(list(params.values()), clipped) == {
        "training.lr_leaf": 3e-3,
        "training.n_step": 3,
        "replay.alpha": 0.3,
    }
    settings = compose_settings(["replay.eta=0.3"]).with_values({"replay.alpha": 0.9})
    assert (settings.replay.alpha, settings.replay.eta) == (0.9, 0.3)


def test_hyperparameters_are_checked_like_any_setting():
    with pytest.raises(UserError, match="replay.alpha must be >= 0"):
        compose_settings().with_values({"replay.alpha": -0.5})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"replay": {"alpha": {"distribution": "normal"}}}, "distribution must be one of"),
        ({"replay": {"alpha": {"distribution": "uniform", "low": 1, "high": 0}}}, "low < high"),
        ({"replay": {"eta": {"distribution": "loguniform", "low": 0, "high": 1}}}, "low > 0"),
        ({"replay": {"alpha": {"distribution": "choice"}}}, "non-empty `values`"),
        ({"replay": {"alpha": 0.5}}, "tune.space.replay.alpha"),
        ({}, "tune.space is empty"),
    ],
)
def test_malformed_space_is_a_user_error(space, message):
    with pytest.raises(UserError, match=message):
        parse_space(space)


def test_searched_key_missing_from_the_config_is_named():
    params = parse_space({"training": {"no_such_weight": SPACE["replay"]["alpha"]}})
    with pytest.raises(UserError, match="training.no_such_weight, which is not a config key"):
        check_keys_exist(params, compose_settings())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+tune.space.training.no_such_weight={distribution:uniform,low:0,high:1}"], "not a"),
        (["tune.population_size=1"], "population_size"),
        (["no_such_group.key=1"], "bad config override"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, overrides, message):
    assert main(overrides) == 2
    err = capsys.readouterr().err
    # Ray forwards its workers' logs to this process's stderr at any time; ours is one line.
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err


def _tiny_settings(*extra: str) -> Settings:
    # 3-step returns: with the default 10 every agent first opens 10 decisions, and a 300-step
    # report ends before replay holds min_size_to_sample, so the learner never updates.
    return compose_settings([TUNE_GROUP, *TINY_RUN, *TINY_SPACE, "training.n_step=3", *extra])


def test_exploit_continues_a_checkpoint_with_the_explored_config(ray_session, tmp_path):
    """What PBT does to a bottom trial: reset to the new config, load the top trial's weights."""
    import torch
    from ray import tune

    settings = _tiny_settings("training.total_env_steps=400")
    params = parse_space(settings.tune.space)
    trial = tune.with_parameters(
        ApexTrial,
        settings=dataclasses.replace(settings, tune=None),
        params=params,
        report_every_env_steps=300,
        evaluation=TuneEvalConfig(episodes=1, episode_tasks=20, seed=5),
    )
    top = trial({"training": {"lr_leaf": 1e-3}, "replay": {"alpha": 0.5}})
    bottom = trial({"training": {"lr_leaf": 2e-4}, "replay": {"alpha": 0.9}})
    try:
        top.train()
        bottom.train()
        top.save_checkpoint(str(tmp_path))
        explored = {"training": {"lr_leaf": 1.2e-3}, "replay": {"alpha": 0.6}}
        assert bottom.reset(explored)
        bottom.load_checkpoint(str(tmp_path))
        top_weights = top.algo.get_module("leaf").state_dict()
        copied = bottom.algo.get_module("leaf").state_dict()
        assert all(torch.equal(copied[k], v) for k, v in top_weights.items())
        assert bottom.settings.replay.alpha == 0.6
        result = bottom.train()
        assert result["env_steps"] >= 600  # went on from the top trial's counters
        assert result["updates"] > 0
        learner = bottom.algo.runtime.learner.learner
        leaf_lr = [
            o.param_groups[0]["lr"]
            for n, o in learner._named_optimizers.items()
            if n.startswith("leaf")
        ]
        assert leaf_lr == [pytest.approx(1.2e-3)]
    finally:
        top.stop()
        bottom.stop()


def test_tiny_pbt_perturbs_and_writes_a_preset_train_composes(ray_session, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    overrides = [
        "training.total_env_steps=2000",
        "tune.report_every_env_steps=250",
        "tune.perturbation_interval=250",
        "tune.eval.episode_tasks=30",
        f"tune.storage_path={tmp_path / 'tune'}",
        f"tune.preset_dir={conf / 'experiment'}",
        "tune.preset_name=tiny_tuned",
        "tune.verbose=0",
    ]
    outcome = run_tuning(_tiny_settings(*overrides), overrides)

    assert outcome.perturbations >= 1
    assert len(outcome.rows) == 2 and outcome.preset == conf / "experiment" / "tiny_tuned.yaml"
    assert outcome.preset.read_text().startswith("# @package _global_\n# Tuned ")
    register_schemas()
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose(config_name="config", overrides=["experiment=tiny_tuned"])
    best = outcome.rows[0].values
    assert cfg.training.lr_leaf == pytest.approx(best["training.lr_leaf"], rel=1e-3)
    assert cfg.replay.alpha == pytest.approx(best["replay.alpha"], rel=1e-3)
    assert 1e-4 <= cfg.training.lr_leaf <= 3e-3 and 0.3 <= cfg.replay.alpha <= 1.0
