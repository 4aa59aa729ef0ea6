import numpy as np
import pytest
import torch

from learners.apex_torch_learner import clip_global_norm_
from marl_alloc.apex.algorithm import ApexConfig
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings import PolicyConfig, Settings, SyntheticEnvConfig, TrainingConfig
from marl_alloc.policy import LEVEL_MODULES, build_policy_spec, module_for_agent, spec_spaces

DIMS = {"cluster": 6, "rack": 5, "leaf": 4}
ACTIONS = {"cluster": 4, "rack": 3, "leaf": 2}


@pytest.fixture(scope="module")
def learner():
    spec = build_policy_spec(DIMS, ACTIONS, PolicyConfig(encoder="mlp", hidden_sizes=[32]))
    config = (
        ApexConfig()
        .multi_agent(policies=set(LEVEL_MODULES), policy_mapping_fn=module_for_agent)
        .rl_module(rl_module_spec=spec)
        .training(lr=1e-2)
    )
    config.settings = Settings(
        env=SyntheticEnvConfig(), training=TrainingConfig(target_update_every=5)
    )
    return config.build_learner(spaces=spec_spaces(spec))


def _terminal_batch(level: str, n: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(n, DIMS[level])).astype(np.float32)
    return {
        C.OBS: obs,
        C.ACTION_MASK: np.ones((n, ACTIONS[level]), bool),
        C.ACTIONS: rng.integers(0, ACTIONS[level], n),
        C.REWARDS: obs[:, 0].copy(),
        C.NEXT_OBS: np.zeros_like(obs),
        C.NEXT_ACTION_MASK: np.zeros((n, ACTIONS[level]), bool),
        C.DISCOUNTS: np.zeros(n, np.float32),
        C.WEIGHTS: np.ones(n, np.float32),
    }


def _tensors(level: str) -> dict[str, dict[str, torch.Tensor]]:
    return {level: {k: torch.from_numpy(v) for k, v in _terminal_batch(level).items()}}


def test_loss_falls_and_td_errors_come_back_per_item(learner):
    batch = _tensors("leaf")
    first = float(learner.fused_update(batch).losses["leaf"])
    for _ in range(150):
        result = learner.fused_update(batch)
    assert float(result.losses["leaf"]) < 0.2 * first
    assert result.rows == {"leaf": 64}
    assert result.priorities.shape == (2, 64)


def test_target_network_syncs_every_k_updates(learner):
    module = learner.module["rack"].unwrapped()
    batch = _tensors("rack")
    while learner.num_gradient_updates % 5 != 4:
        learner.fused_update(batch)
    learner.fused_update(batch)
    online, target = module.get_target_network_pairs()[0]
    for p_online, p_target in zip(online.parameters(), target.parameters(), strict=True):
        assert np.allclose(p_online.detach().numpy(), p_target.detach().numpy())


def test_each_level_gets_its_own_learning_rate():
    from marl_alloc.apex.builder import build_apex_config
    from marl_alloc.floor.settings.compose import compose_settings

    settings = compose_settings(["training.lr=0.0005", "training.lr_leaf=0.002"])
    config = build_apex_config(settings)
    learner = config.build_learner(spaces=spec_spaces(config.rl_module_spec))
    rates = {m: learner.get_optimizer(m).param_groups[0]["lr"] for m in LEVEL_MODULES}
    assert rates == {"cluster": 0.0005, "rack": 0.0005, "leaf": 0.002}


def test_the_clip_scales_like_rllibs_global_norm_clip_and_reads_inf_as_1e9():
    from ray.rllib.utils.torch_utils import clip_gradients

    torch.manual_seed(0)
    for scale in (0.1, 100.0):
        grads = [scale * torch.randn(5, 3), scale * torch.randn(7)]
        grads[1][2] = float("inf")
        expected = [g.clone() for g in grads]
        clip_gradients(dict(enumerate(expected)), grad_clip=10.0, grad_clip_by="global_norm")
        clip_global_norm_(grads, 10.0)
        for got, want in zip(grads, expected, strict=True):
            torch.testing.assert_close(got, want)
