"""The fused update computes what the previous path (RLlib's Learner.update, the team loss running
the level networks again) computes, on the same batch: losses, TD errors, attention, gradients,
and after one step the same weights."""

import numpy as np
import pytest
import torch

from actors.env_worker import EnvWorker
from learners.fused_loss import fused_loss
from marl_alloc.apex.builder import build_apex_config
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import spec_spaces
from replay import PrioritizedShard

ROWS = 48


def _config(overrides: list[str] = ()):
    return build_apex_config(
        compose_settings(
            [
                "replay.min_size_to_sample=60",
                "replay.samples_per_insert=null",
                "training.target_update_every=1000",
                *overrides,
            ]
        )
    )


@pytest.fixture(scope="module")
def sampled() -> dict[str, dict[str, np.ndarray]]:
    """A prioritized sample of real rollouts (GAT levels, QMIX team rows), replay ids removed."""
    config = _config()
    settings = config.settings
    shard = PrioritizedShard(settings.replay, 0)
    worker = EnvWorker(
        settings.env, config.rl_module_spec, shard.add,
        num_envs=2, seed=1, epsilon=0.3, n_step=3, gamma=0.95,
    )  # fmt: skip
    while min(shard.size().values(), default=0) < 60:
        worker.collect(8)
    out = shard.sample(ROWS)
    for columns in out.values():
        columns.pop(C.INDICES), columns.pop(C.GENERATIONS)
    return out


def _tensors(sampled) -> dict[str, dict[str, torch.Tensor]]:
    return {
        m: {k: torch.from_numpy(np.asarray(v)) for k, v in b.items()} for m, b in sampled.items()
    }


def _learner(overrides: list[str] = ()):
    config = _config(overrides)
    torch.manual_seed(0)
    learner = config.build_learner(spaces=spec_spaces(config.rl_module_spec))
    # Target networks apart from the online ones, so a mix-up between them shows.
    with torch.no_grad():
        for module in learner.module.values():
            for _, target in getattr(module, "get_target_network_pairs", list)():
                for p in target.parameters():
                    p.add_(0.05 * torch.randn_like(p))
    return learner


def _trainable(learner) -> list[torch.Tensor]:
    return [p for m in learner.module.values() for p in m.parameters() if p.requires_grad]


def test_fused_losses_td_errors_attention_and_gradients_equal_the_previous_paths(sampled):
    learner = _learner()
    batch = _tensors(sampled)
    assert set(batch) == {"cluster", "rack", "leaf", C.TEAM}
    fwd_out = learner.module.forward_train(batch)
    previous = learner.compute_losses(fwd_out=fwd_out, batch=batch)
    previous_grads = torch.autograd.grad(sum(previous.values()), _trainable(learner))
    modules = {m: module.unwrapped() for m, module in learner.module.items()}
    fused = fused_loss(modules, batch, 1.0, learner.config.settings.training.credit_weight)
    fused_grads = torch.autograd.grad(fused.total, _trainable(learner))
    for module_id, loss in previous.items():
        assert float(fused.losses[module_id].detach()) == pytest.approx(float(loss), rel=1e-5)
        np.testing.assert_allclose(
            fused.td_abs[module_id].numpy(), learner.last_td_abs[module_id], rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            fused.attention[module_id].numpy(), learner.last_attention[module_id], atol=1e-6
        )
    for key, value in learner.last_credit.items():
        assert float(fused.credit[key]) == pytest.approx(value, rel=1e-5)
    for expected, got in zip(previous_grads, fused_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_one_fused_step_leaves_the_weights_one_rllib_update_leaves(sampled):
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    previous, fused = _learner(["training.learner_path=rllib_update"]), _learner()
    fused.set_state(previous.get_state())
    batch = MultiAgentBatch({m: SampleBatch(dict(b)) for m, b in sampled.items()}, ROWS)
    previous.update(batch=batch, timesteps={})
    result = fused.fused_update(_tensors(sampled))
    # The clipped gradients each optimizer stepped with; Adam's first step, g / (|g| + eps),
    # turns float noise in a near-zero gradient into up to a whole step, so weights are compared
    # only where the gradient is not noise.
    for expected, got in zip(_trainable(previous), _trainable(fused), strict=True):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-4, atol=1e-6)
        clear = expected.grad.abs() > 1e-4
        torch.testing.assert_close(got[clear], expected[clear], rtol=1e-4, atol=1e-6)
    assert result.rows == {m: ROWS for m in ("cluster", "rack", "leaf", C.TEAM)}
    assert result.priorities.shape == (2, 4 * ROWS)
    assert fused.num_gradient_updates == previous.num_gradient_updates == 1


def test_bf16_autocast_trains_close_to_fp32(sampled):
    fp32, bf16 = _learner(), _learner(["training.precision=bf16"])
    bf16.set_state(fp32.get_state())
    exact = fp32.fused_update(_tensors(sampled))
    rounded = bf16.fused_update(_tensors(sampled))
    for module_id, loss in exact.losses.items():
        assert float(rounded.losses[module_id]) == pytest.approx(float(loss), rel=0.05)
    assert torch.isfinite(rounded.priorities).all()
