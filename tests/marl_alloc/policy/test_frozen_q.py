"""Frozen Q networks act as the eager ones do, on any batch, and stay as they were frozen."""

import numpy as np
import pytest
import torch

from envs import VectorDatacenterEnv
from marl_alloc.apex.builder import env_dimensions
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import LEVEL_MODULES, ModulePolicy, build_policy_spec
from marl_alloc.policy.frozen_q import freeze_q_net


def _module(encoder: str):
    settings = compose_settings([f"model.policy.encoder={encoder}"])
    obs_dims, num_actions = env_dimensions(settings.env)
    torch.manual_seed(0)
    return build_policy_spec(obs_dims, num_actions, settings.model.policy).build(), obs_dims


@pytest.mark.parametrize("encoder", ["gat", "mlp"])
def test_frozen_q_values_are_the_eager_ones_for_any_batch(encoder):
    module, obs_dims = _module(encoder)
    for level in LEVEL_MODULES:
        q_net = module[level].q_net.train()
        frozen = freeze_q_net(q_net, obs_dims[level])
        assert q_net.training  # freezing leaves the learner's network alone
        for batch in (1, 7):
            obs = torch.rand(batch, obs_dims[level])
            with torch.no_grad():
                eager = q_net.eval()(obs, attention=False)[0]
                assert torch.allclose(frozen(obs), eager, atol=1e-6)


def test_frozen_weights_are_a_copy_of_the_weights_at_freezing():
    module, obs_dims = _module("gat")
    q_net = module["leaf"].q_net.eval()
    frozen = freeze_q_net(q_net, obs_dims["leaf"])
    obs = torch.rand(3, obs_dims["leaf"])
    with torch.no_grad():
        before = frozen(obs)
        for parameter in q_net.parameters():
            parameter.add_(1.0)
        assert torch.equal(frozen(obs), before)
        assert not torch.allclose(q_net(obs, attention=False)[0], before)


def test_acting_policy_picks_what_rllib_forward_inference_picks():
    module, _ = _module("gat")
    settings = compose_settings([])
    env = VectorDatacenterEnv(settings.env, num_envs=4, seed=3, continuing=True)
    level_obs = env.reset(seed=3)
    policy = ModulePolicy(module)
    module.foreach_module(lambda _, m: m.eval())
    for _ in range(30):
        batch = {
            C.OBS: torch.from_numpy(level_obs.obs),
            C.ACTION_MASK: torch.from_numpy(level_obs.action_mask),
        }
        with torch.no_grad():
            expected = module[level_obs.level].forward_inference(batch)[C.ACTIONS].numpy()
        actions = policy.act(env, level_obs)
        np.testing.assert_array_equal(actions, expected)
        assert level_obs.action_mask[np.arange(len(actions)), actions].all()
        level_obs = env.step(actions).next
