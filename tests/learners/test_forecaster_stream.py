"""The forecaster trains on its own stream: one step per `train_every` policy updates on the
newest rows replay handed the learner, each row once; the policy update is the same with it on
or off; bad cadence settings are one line."""

import numpy as np
import pytest
import torch

from learners import LearnerWorker
from learners.forecaster_stream import ForecasterStream
from marl_alloc.apex.algorithm import ApexConfig
from marl_alloc.floor import columns as C
from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.settings import (
    ForecasterConfig,
    ForecastNetConfig,
    ModelConfig,
    PolicyConfig,
    Settings,
    SyntheticEnvConfig,
    TrainingConfig,
)
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import LEVEL_MODULES, build_policy_spec, module_for_agent
from marl_alloc.policy.forecaster import FORECAST_TARGETS, FORECASTER_ID, forecaster_module_spec

WINDOW, HORIZON, FEATURES = 8, 4, 6


def _rows(n: int, first: int = 0) -> dict[str, torch.Tensor]:
    """Rows whose windows are numbered first, first + 1, ... (in every value)."""
    ids = torch.arange(first, first + n, dtype=torch.float32)
    return {
        C.OBS: ids[:, None, None].expand(n, WINDOW, FEATURES).clone(),
        FORECAST_TARGETS: ids[:, None, None].expand(n, HORIZON, 2).clone(),
        C.WEIGHTS: torch.ones(n),
    }


class RecordingLearner:
    """Records the rows of each forecaster step."""

    device = torch.device("cpu")

    def __init__(self):
        self.steps: list[dict[str, torch.Tensor]] = []

    def forecaster_update(self, rows: dict[str, torch.Tensor]) -> torch.Tensor:
        self.steps.append(rows)
        return torch.tensor(float(len(self.steps)))


def _stream(every: int, batch: int) -> tuple[ForecasterStream, RecordingLearner]:
    learner = RecordingLearner()
    config = ForecasterConfig(enabled=True, train_every=every, train_batch_size=batch)
    return ForecasterStream(learner, config), learner


def test_one_step_per_train_every_policy_updates_on_the_newest_rows():
    stream, learner = _stream(every=3, batch=4)
    ran = []
    for update in range(9):
        stream.add(_rows(5, first=10 * update))
        ran.append(stream.after_policy_update() is not None)
    assert ran == [False, False, True] * 3
    assert stream.counters()["steps"] == 3 and stream.counters()["rows"] == 12
    # Each step: the last 4 rows of the latest sample (update 2, 5, 8: rows 21-24, ...).
    for step, update in zip(learner.steps, (2, 5, 8), strict=True):
        first = 10 * update + 1
        np.testing.assert_array_equal(step[C.OBS][:, 0, 0], np.arange(first, first + 4))
        assert set(step) == {C.OBS, FORECAST_TARGETS}
        assert step[FORECAST_TARGETS].shape == (4, HORIZON, 2)


def test_a_step_gathers_rows_across_samples_and_waits_for_enough_of_them():
    stream, learner = _stream(every=1, batch=6)
    stream.add(_rows(4, first=0))
    assert stream.after_policy_update() is None  # due, 4 of 6 rows held
    stream.add(_rows(4, first=100))
    assert stream.after_policy_update() is not None
    np.testing.assert_array_equal(learner.steps[0][C.OBS][:, 0, 0], [2, 3, 100, 101, 102, 103])


def test_rows_are_trained_on_once():
    stream, learner = _stream(every=1, batch=4)
    stream.add(_rows(8))
    assert stream.after_policy_update() is not None
    assert stream.after_policy_update() is None  # no new rows since the step
    assert len(learner.steps) == 1


DIMS = {"cluster": 6, "rack": 5, "leaf": 4}
ACTIONS = {"cluster": 4, "rack": 3, "leaf": 2}
BATCH = 16
SMALL_NET = ForecastNetConfig(
    lstm_hidden=8, d_model=8, d_state=4, fusion_dim=16, head_hidden=16, dropout=0.0
)


class Shard:
    """A local shard of random level transitions, and forecaster rows from an rng of their own,
    so the level rows are the same with or without them."""

    def __init__(self, forecaster_rows: bool):
        self.rng = np.random.default_rng(0)
        self.forecaster_rng = np.random.default_rng(1) if forecaster_rows else None

    def sample(self, batch_size: int) -> dict:
        ids = {C.INDICES: np.arange(batch_size), C.GENERATIONS: np.zeros(batch_size, np.int64)}
        out = {}
        for level, dim in DIMS.items():
            out[level] = {
                C.OBS: self.rng.normal(size=(batch_size, dim)).astype(np.float32),
                C.ACTION_MASK: np.ones((batch_size, ACTIONS[level]), bool),
                C.ACTIONS: self.rng.integers(0, ACTIONS[level], batch_size),
                C.REWARDS: self.rng.normal(size=batch_size).astype(np.float32),
                C.NEXT_OBS: self.rng.normal(size=(batch_size, dim)).astype(np.float32),
                C.NEXT_ACTION_MASK: np.ones((batch_size, ACTIONS[level]), bool),
                C.DISCOUNTS: np.full(batch_size, 0.9, np.float32),
                C.WEIGHTS: np.ones(batch_size, np.float32),
                **ids,
            }
        if self.forecaster_rng is not None:
            windows = self.forecaster_rng.uniform(size=(batch_size, WINDOW, FEATURES))
            out[FORECASTER_ID] = {
                C.OBS: windows.astype(np.float32),
                FORECAST_TARGETS: np.repeat(windows[:, -1:, :2], HORIZON, 1).astype(np.float32),
                C.WEIGHTS: np.ones(batch_size, np.float32),
                **ids,
            }
        return out

    def update_priorities(self, updates: dict) -> int:
        assert FORECASTER_ID not in updates  # its rows keep their uniform priority
        return 0


def _worker(forecaster: bool, learner_path: str) -> LearnerWorker:
    config = ForecasterConfig(
        enabled=forecaster, window=WINDOW, horizon=HORIZON, train_every=2, net=SMALL_NET
    )
    spec = build_policy_spec(
        DIMS,
        ACTIONS,
        PolicyConfig(encoder="mlp", hidden_sizes=[16]),
        forecaster=forecaster_module_spec(config, HORIZON) if forecaster else None,
    )
    policies = [*LEVEL_MODULES, FORECASTER_ID] if forecaster else list(LEVEL_MODULES)
    algo = (
        ApexConfig()
        .multi_agent(policies=policies, policy_mapping_fn=module_for_agent)
        .rl_module(rl_module_spec=spec)
        .training(lr=1e-3, train_batch_size_per_learner=BATCH)
    )
    algo.settings = Settings(
        env=SyntheticEnvConfig(),
        model=ModelConfig(forecaster=config),
        training=TrainingConfig(learner_path=learner_path),
    )
    return LearnerWorker(algo, [Shard(forecaster_rows=forecaster)])


@pytest.mark.parametrize("learner_path", ["fused", "rllib_update"])
def test_the_policy_trains_the_same_with_the_forecaster_on_or_off(learner_path):
    on, off = _worker(True, learner_path), _worker(False, learner_path)
    for level in LEVEL_MODULES:
        off.learner.module[level].set_state(on.learner.module[level].get_state())
    stats = on.train_round(6)
    off.train_round(6)
    for level in LEVEL_MODULES:
        ours = on.learner.module[level].state_dict()
        theirs = off.learner.module[level].state_dict()
        for name, value in ours.items():
            torch.testing.assert_close(theirs[name], value, rtol=0, atol=0)
    assert stats["forecaster"]["steps"] == 3 and stats["forecaster"]["rows"] == 3 * 32
    assert FORECASTER_ID in stats["loss"] and np.isfinite(stats["loss"][FORECASTER_ID])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.forecaster.train_every=0", "model.forecaster.train_every must be > 0"),
        ("model.forecaster.train_batch_size=-1", "model.forecaster.train_batch_size must be > 0"),
    ],
)
def test_a_bad_cadence_setting_is_one_line(override, message):
    with pytest.raises(ConfigError) as raised:
        compose_settings([override])
    assert "\n" not in str(raised.value) and message in str(raised.value)
