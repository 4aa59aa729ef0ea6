"""Shapes, the gate, normalization, save/load and the RLlib wrapper of the forecaster."""

import pytest
import torch

from marl_alloc.floor.errors import UserError
from marl_alloc.forecasting.ensemble import ForecastEnsemble
from marl_alloc.forecasting.model import ForecastNet, GatedFusion
from marl_alloc.forecasting.rl_module import (
    FORECAST,
    FORECASTER_ID,
    forecaster_spec,
    module_from_net,
)
from marl_alloc.forecasting.store import load_models, save_models
from tests.marl_alloc.forecasting.conftest import tiny_net_config


def test_gated_fusion_shape_and_convex_mix():
    torch.manual_seed(0)
    fusion = GatedFusion(6, 4, 5)
    a, b = torch.randn(3, 6), torch.randn(3, 4)
    out = fusion(a, b)
    assert out.shape == (3, 5)
    gate = fusion.gate_values(a, b)
    assert ((gate > 0) & (gate < 1)).all()
    pa, pb = fusion.proj_a(fusion.norm_a(a)), fusion.proj_b(fusion.norm_b(b))
    # The output lies between the two projected pathways, elementwise.
    assert ((out >= torch.minimum(pa, pb) - 1e-6) & (out <= torch.maximum(pa, pb) + 1e-6)).all()
    torch.testing.assert_close(out, gate * pa + (1 - gate) * pb)


def test_gated_fusion_ignores_a_pathways_scale():
    # A small LSTM state and a large Mamba output weigh the same: each is normalized first.
    torch.manual_seed(0)
    fusion = GatedFusion(6, 4, 5)
    a, b = torch.randn(3, 6), torch.randn(3, 4)
    torch.testing.assert_close(fusion(0.2 * a, 20 * b), fusion(a, b), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("pathways", [("lstm", "mamba"), ("lstm",), ("mamba",)])
def test_forecast_shape(pathways):
    net = ForecastNet(tiny_net_config(pathways=pathways, num_features=4, target_features=(0, 1)))
    assert net(torch.randn(5, 12, 4)).shape == (5, 4, 2)
    assert isinstance(net.fusion, GatedFusion) == (len(pathways) == 2)


def test_unknown_pathway_is_rejected():
    with pytest.raises(ValueError, match="pathways"):
        ForecastNet(tiny_net_config(pathways=("gru",)))


def test_normalization_lives_in_state_dict_and_scales_outputs():
    torch.manual_seed(0)
    net = ForecastNet(tiny_net_config()).eval()
    x = torch.randn(2, 12, 3)
    net.set_normalization(torch.tensor([10.0, 0, 0]), torch.tensor([2.0, 1, 1]))
    assert net.state_dict()["feature_mean"][0] == 10.0
    # Shifting and scaling the target feature the same way shifts and scales the forecast.
    shifted = x.clone()
    shifted[..., 0] = x[..., 0] * 2 + 10
    plain = ForecastNet(tiny_net_config()).eval()
    plain.load_state_dict(
        {**net.state_dict(), "feature_mean": torch.zeros(3), "feature_std": torch.ones(3)}
    )
    torch.testing.assert_close(net(shifted), plain(x) * 2 + 10, rtol=1e-5, atol=1e-5)


LEVELED = {"num_features": 4, "feature_targets": (0, -1, -1, 0)}  # value, tod x2, value lagged


@pytest.mark.parametrize("level_steps", [1, 3])
def test_level_shift_moves_the_forecast_by_the_same_amount(level_steps):
    # Instance levelling: the net sees the target and its lag relative to the window's level,
    # so a series shifted by c (train statistics unchanged) is forecast shifted by exactly c.
    torch.manual_seed(0)
    net = ForecastNet(tiny_net_config(level_steps=level_steps, **LEVELED)).eval()
    net.set_normalization(torch.tensor([50.0, 0, 0, 50]), torch.tensor([5.0, 1, 1, 5]))
    x = 50 + 5 * torch.randn(3, 12, 4)
    shifted = x.clone()
    shifted[..., [0, 3]] += 30.0
    torch.testing.assert_close(net(shifted), net(x) + 30.0, rtol=0, atol=1e-4)


def test_level_is_the_mean_of_the_last_steps_and_anchors_an_untrained_head():
    net = ForecastNet(tiny_net_config(level_steps=3, **LEVELED)).eval()
    for param in net.head[-1].parameters():
        torch.nn.init.zeros_(param)  # the head predicts no change: the forecast is the level
    x = torch.randn(2, 12, 4)
    level = x[:, -3:, 0].mean(1)
    torch.testing.assert_close(net(x), level[:, None, None].expand(2, 4, 1))


def test_level_needs_feature_targets():
    with pytest.raises(ValueError, match="feature_targets"):
        ForecastNet(tiny_net_config(level_steps=1))


def _ensemble(members: int = 3) -> ForecastEnsemble:
    torch.manual_seed(0)
    return ForecastEnsemble([ForecastNet(tiny_net_config()) for _ in range(members)]).eval()


def test_ensemble_forecast_is_the_members_mean():
    ensemble = _ensemble()
    x = torch.randn(2, 12, 3)
    members = torch.stack([m(x) for m in ensemble.members])
    torch.testing.assert_close(ensemble(x), members.mean(0))
    normalized = torch.stack([m.forward_normalized(x) for m in ensemble.members]).mean(0)
    torch.testing.assert_close(ensemble.forward_normalized(x), normalized)


def test_ensemble_members_share_one_config():
    with pytest.raises(ValueError, match="same NetConfig"):
        ForecastEnsemble([ForecastNet(tiny_net_config()), ForecastNet(tiny_net_config(horizon=2))])


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    nets = {
        "hybrid": ForecastNet(tiny_net_config()).eval(),
        "lstm_only": ForecastNet(tiny_net_config(pathways=("lstm",))).eval(),
        "leveled": ForecastNet(tiny_net_config(level_steps=2, **LEVELED)).eval(),
        "ensemble": _ensemble(),
    }
    meta = {"note": "test", "config": {}, "feature_names": ["v", "s", "c"], "seasonal_lags": []}
    save_models(tmp_path, nets, meta)
    loaded, meta = load_models(tmp_path)
    assert meta["note"] == "test" and set(loaded) == set(nets)
    assert loaded["leveled"].cfg == nets["leveled"].cfg
    assert isinstance(loaded["ensemble"], ForecastEnsemble) and len(loaded["ensemble"].members) == 3
    for name, net in nets.items():
        x = torch.randn(3, 12, net.cfg.num_features)
        torch.testing.assert_close(loaded[name](x), net(x))


def test_load_of_a_stale_or_missing_model_dir_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="holds no forecaster.json"):
        load_models(tmp_path)
    save_models(tmp_path, {"hybrid": ForecastNet(tiny_net_config())}, {"config": {}})
    with pytest.raises(UserError, match=r"lacks \['feature_names', 'seasonal_lags'\]"):
        load_models(tmp_path)


def test_rl_module_matches_standalone_net():
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    torch.manual_seed(0)
    net = ForecastNet(tiny_net_config()).eval()
    module = module_from_net(net, window=12)
    x = torch.randn(4, 12, 3)
    torch.testing.assert_close(module.forward_inference({"obs": x})[FORECAST], net(x))
    multi = MultiRLModuleSpec(
        rl_module_specs={FORECASTER_ID: forecaster_spec(net.cfg, window=12)}
    ).build()
    assert multi[FORECASTER_ID].forward_train({"obs": x})[FORECAST].shape == (4, 4, 1)


def test_rl_module_holds_an_ensemble():
    ensemble = _ensemble()
    module = module_from_net(ensemble, window=12)
    x = torch.randn(4, 12, 3)
    torch.testing.assert_close(module.forward_inference({"obs": x})[FORECAST], ensemble(x))
