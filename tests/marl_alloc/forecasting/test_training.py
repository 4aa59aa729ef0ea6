"""Training lowers the loss, is deterministic on CPU, and stops early."""

import pytest
import torch

from marl_alloc.floor.settings.compose import compose_forecast_settings
from marl_alloc.forecasting.model import ForecastNet
from marl_alloc.forecasting.pipeline import build_net
from marl_alloc.forecasting.series import WindowBatches, training_origins
from marl_alloc.forecasting.synthetic import synthetic_series
from marl_alloc.forecasting.trainer import mean_loss, normalization_stats, train
from tests.marl_alloc.forecasting.conftest import TINY_OVERRIDES


def _setup(overrides=()):
    cfg = compose_forecast_settings([*TINY_OVERRIDES, *overrides])
    series = synthetic_series(cfg.synthetic, 2, 300, seed=0)
    train_o, val_o = training_origins(series, 12, 4, 0.75, 0.2)
    train_data = WindowBatches(series, train_o, 12, 4)
    val_data = WindowBatches(series, val_o, 12, 4)
    torch.manual_seed(0)
    net = build_net(cfg, series, ("lstm", "mamba"))
    net.set_normalization(*normalization_stats(series, int(train_o[-1]) + 4))
    return cfg, net, train_data, val_data


@pytest.mark.parametrize("ema_decay", [0.0, 0.8])
def test_training_reduces_loss(ema_decay):
    cfg, net, train_data, val_data = _setup(
        ["train.max_epochs=4", "train.lr=0.003", f"train.ema_decay={ema_decay}"]
    )
    before = mean_loss(net, train_data, 256)
    result = train(net, train_data, val_data, cfg.train, seed=0, progress=False)
    assert mean_loss(net, train_data, 256) < 0.9 * before
    assert result.best_val_loss == min(h["val_loss"] for h in result.history)


def test_training_is_deterministic_on_cpu():
    weights = []
    for _ in range(2):
        cfg, net, train_data, val_data = _setup()
        train(net, train_data, val_data, cfg.train, seed=0, progress=False)
        weights.append(net.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_early_stopping_restores_the_best_epoch(monkeypatch):
    cfg, net, train_data, val_data = _setup(["train.max_epochs=10", "train.patience=2"])
    losses = iter([0.5, 0.3, 0.4, 0.6, 0.2])
    monkeypatch.setattr("marl_alloc.forecasting.trainer.mean_loss", lambda *a: next(losses))
    result = train(net, train_data, val_data, cfg.train, seed=0, progress=False)
    assert (result.best_epoch, result.epochs, result.best_val_loss) == (2, 4, 0.3)
    assert isinstance(net, ForecastNet) and not net.training
