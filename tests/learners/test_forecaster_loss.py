"""The policy's forecaster module: trained by the learner's forecaster step (L1 loss at
training.lr_temporal, apart from the policy update), warm-started from a `forecast train` dir,
restored with the policy, its optimizer with the learner."""

import numpy as np
import pytest
import torch

from marl_alloc.apex.builder import build_apex_config
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import spec_spaces
from marl_alloc.policy.forecaster import FORECAST_TARGETS, FORECASTER_ID

SMALL_NET = [
    "model.forecaster.enabled=true",
    "model.forecaster.window=8",
    "model.forecaster.horizon=4",
    "model.forecaster.net.lstm_hidden=8",
    "model.forecaster.net.d_model=8",
    "model.forecaster.net.d_state=4",
    "model.forecaster.net.fusion_dim=16",
    "model.forecaster.net.head_hidden=16",
]


def _learner(overrides: list[str]):
    config = build_apex_config(compose_settings([*SMALL_NET, *overrides]))
    return config.build_learner(spaces=spec_spaces(config.rl_module_spec))


def _rows(n: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Windows of a learnable stream: the next bins' CPU and memory are the window's recent
    level plus a ramp."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(0, 1, (n, 8, 6)).astype(np.float32)
    level = obs[:, -4:, :2].mean(1, keepdims=True)
    targets = np.repeat(level, 4, axis=1) + np.linspace(0, 0.3, 4)[None, :, None]
    return {C.OBS: torch.from_numpy(obs), FORECAST_TARGETS: torch.from_numpy(targets)}


def _held_out_mae(learner, rows) -> float:
    net = learner.module[FORECASTER_ID].unwrapped().net.eval()
    with torch.no_grad():
        forecast = net(rows[C.OBS])
    net.train()
    return float((forecast - rows[FORECAST_TARGETS]).abs().mean())


def test_forecaster_steps_on_a_learnable_stream_lower_its_loss_and_held_out_error():
    learner = _learner(["training.lr_temporal=0.003"])
    held_out = _rows(256, seed=99)
    before = _held_out_mae(learner, held_out)
    losses = [float(learner.forecaster_update(_rows(seed=step))) for step in range(60)]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    assert _held_out_mae(learner, held_out) < 0.5 * before


def _params(learner, module_id: str) -> list[torch.Tensor]:
    return [p.detach().clone() for p in learner.module[module_id].parameters()]


def _level_batch(learner, rows: int = 16) -> dict[str, dict[str, torch.Tensor]]:
    """Random transitions for every level module (shapes from the modules' spaces)."""
    batch = {}
    for level in ("cluster", "rack", "leaf"):
        module = learner.module[level].unwrapped()
        obs = module.observation_space["obs"].shape[0]
        actions = module.action_space.n
        batch[level] = {
            C.OBS: torch.rand(rows, obs),
            C.ACTION_MASK: torch.ones(rows, actions, dtype=torch.bool),
            C.ACTIONS: torch.zeros(rows, dtype=torch.int64),
            C.REWARDS: torch.rand(rows),
            C.NEXT_OBS: torch.rand(rows, obs),
            C.NEXT_ACTION_MASK: torch.ones(rows, actions, dtype=torch.bool),
            C.DISCOUNTS: torch.full((rows,), 0.9),
            C.WEIGHTS: torch.ones(rows),
        }
    return batch


def test_a_policy_update_leaves_the_forecaster_and_a_forecaster_step_the_policy():
    learner = _learner(["model.policy.encoder=mlp", "model.mixer.kind=none"])
    forecaster, leaf = _params(learner, FORECASTER_ID), _params(learner, "leaf")
    result = learner.fused_update(_level_batch(learner))
    assert FORECASTER_ID not in result.losses and FORECASTER_ID not in result.rows
    for before, after in zip(forecaster, _params(learner, FORECASTER_ID), strict=True):
        torch.testing.assert_close(after, before, rtol=0, atol=0)
    leaf = _params(learner, "leaf")
    learner.forecaster_update(_rows())
    for before, after in zip(leaf, _params(learner, "leaf"), strict=True):
        torch.testing.assert_close(after, before, rtol=0, atol=0)
    trained = _params(learner, FORECASTER_ID)
    assert any(not torch.equal(a, b) for a, b in zip(forecaster, trained, strict=True))


def test_the_forecasters_learning_rate_is_training_lr_temporal():
    learner = _learner(["training.lr=0.0005", "training.lr_temporal=0.004"])
    assert learner.get_optimizer(FORECASTER_ID).param_groups[0]["lr"] == 0.004
    assert learner.get_optimizer("leaf").param_groups[0]["lr"] == 0.0005
    learner = _learner(["training.lr=0.0005", "training.lr_temporal=null"])
    assert learner.get_optimizer(FORECASTER_ID).param_groups[0]["lr"] == 0.0005


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory):
    """A `forecast train`-style dir of a small hybrid over the env's six demand features."""
    from marl_alloc.forecasting.model import ForecastNet, NetConfig
    from marl_alloc.forecasting.store import save_models
    from marl_alloc.policy.forecaster import FEATURES

    cfg = NetConfig(6, (0, 1), 6, ("lstm", "mamba"), 8, 1, 8, 4, 4, 2, 1, 16, 16, 0.0, 1,
                    (0, 1, -1, -1, -1, -1))  # fmt: skip
    torch.manual_seed(7)
    net = ForecastNet(cfg)
    net.set_normalization(torch.full((6,), 0.3), torch.full((6,), 0.2))
    meta = {
        "config": {"data": {"window": 10}},
        "feature_names": list(FEATURES),
        "seasonal_lags": [],
        "resolution_s": 30.0,
    }
    return save_models(tmp_path_factory.mktemp("forecaster"), {"hybrid": net}, meta), net


def test_init_dir_warm_starts_the_forecaster(init_dir):
    path, net = init_dir
    sizes = ["model.forecaster.window=10", "model.forecaster.horizon=6"]
    learner = _learner([f"model.forecaster.init={path}", *sizes])
    module = learner.module[FORECASTER_ID].unwrapped()
    assert module.window == 10 and module.resolution_s == 30.0 and module.net.cfg.horizon == 6
    for name, value in net.state_dict().items():
        torch.testing.assert_close(module.net.state_dict()[name], value)


def test_a_checkpoint_restores_the_forecaster(tmp_path):
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule

    learner = _learner([])
    module = learner.module
    module[FORECASTER_ID].net.feature_mean.fill_(0.25)  # a value no fresh module has
    module.save_to_path(tmp_path / "rl_module")
    restored = MultiRLModule.from_checkpoint(str(tmp_path / "rl_module"))
    window = torch.rand(3, 8, 6)
    with torch.no_grad():
        expected = module[FORECASTER_ID].eval().net(window)
        got = restored[FORECASTER_ID].eval().net(window)
    torch.testing.assert_close(got, expected)
    assert restored[FORECASTER_ID].resolution_s == 10.0


def test_a_learner_checkpoint_restores_the_forecasters_weights_and_optimizer(tmp_path):
    no_dropout = "model.forecaster.net.dropout=0.0"
    learner = _learner([no_dropout])
    for step in range(3):
        learner.forecaster_update(_rows(seed=step))
    learner.save_to_path(tmp_path / "learner")
    restored = _learner([no_dropout])
    restored.restore_from_path(str(tmp_path / "learner"))
    state = restored.get_optimizer(FORECASTER_ID).state_dict()["state"]
    assert state and all(int(s["step"]) == 3 for s in state.values())
    # The next step from the restored moments moves both the same way.
    learner.forecaster_update(_rows(seed=3))
    restored.forecaster_update(_rows(seed=3))
    for ours, theirs in zip(
        _params(learner, FORECASTER_ID), _params(restored, FORECASTER_ID), strict=True
    ):
        torch.testing.assert_close(theirs, ours)


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ({"window": 8, "horizon": 6}, "model.forecaster.window=8"),
        ({"window": 10, "horizon": 12}, "model.forecaster.horizon=12"),
    ],
)
def test_an_init_dir_with_another_window_or_horizon_is_one_line(init_dir, sizes, expected):
    from marl_alloc.floor.errors import UserError

    path, _ = init_dir
    overrides = [f"model.forecaster.{key}={value}" for key, value in sizes.items()]
    with pytest.raises(UserError) as raised:
        build_apex_config(
            compose_settings([*SMALL_NET, f"model.forecaster.init={path}", *overrides])
        )
    message = str(raised.value)
    assert "\n" not in message and expected in message
    assert "reads 10 steps and forecasts 6" in message


def test_warm_start_refuses_a_module_of_other_sizes(init_dir):
    from marl_alloc.floor.errors import UserError
    from marl_alloc.policy.forecaster import warm_start

    path, _ = init_dir
    module = _learner([]).module[FORECASTER_ID].unwrapped()  # window 8, horizon 4
    with pytest.raises(UserError, match="reads 10 steps and forecasts 6"):
        warm_start(module, path)


@pytest.mark.slow
def test_train_exits_2_on_a_mismatched_init_dir(init_dir, tmp_path):
    import subprocess
    import sys

    path, _ = init_dir
    argv = [sys.executable, "-m", "marl_alloc.train", *SMALL_NET]
    argv += [f"model.forecaster.init={path}", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the forecaster in")
