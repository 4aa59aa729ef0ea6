import numpy as np
import pytest
import torch

from marl_alloc.floor import columns as C
from marl_alloc.floor.errors import ConfigError
from marl_alloc.floor.settings import MixerConfig, PolicyConfig
from marl_alloc.policy import build_policy_spec
from marl_alloc.policy.mixer import QMixer, VDNMixer, contribution_variance

DIMS = {"cluster": 6, "rack": 5, "leaf": 4}
ACTIONS = {"cluster": 4, "rack": 3, "leaf": 2}
MLP = PolicyConfig(encoder="mlp", hidden_sizes=[16])
SMALL = {"hypernet_hidden": 16, "normalize": False}


def test_vdn_is_the_sum_of_the_active_agents_values():
    agent_q = torch.tensor([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
    active = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    q_tot, contributions = VDNMixer()(agent_q, torch.zeros(2, 3), active)
    assert q_tot.tolist() == [7.0, 1.0]
    assert contributions[1].tolist() == [1.0, 0.0, 0.0]


def test_normalized_mixers_average_the_active_agents_values():
    agent_q = torch.tensor([[1.0, 2.0, 6.0], [1.0, 2.0, 6.0]])
    active = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    q_tot, _ = VDNMixer(normalize=True)(agent_q, torch.zeros(2, 3), active)
    assert q_tot.tolist() == [3.0, 1.5]
    torch.manual_seed(0)
    qmix = QMixer(state_dim=8, num_agents=3, hypernet_hidden=16, normalize=True)
    state = torch.randn(2, 8)
    q_tot, contributions = qmix(torch.ones(2, 3), state, active)
    torch.testing.assert_close(contributions.sum(-1), torch.ones(2))
    assert contributions[1, 2] == 0


@pytest.mark.parametrize("normalize", [False, True])
def test_qmix_is_monotonic_in_every_agents_value(normalize):
    torch.manual_seed(0)
    mixer = QMixer(state_dim=8, num_agents=3, hypernet_hidden=16, normalize=normalize)
    state = torch.randn(256, 8)
    agent_q = torch.randn(256, 3, requires_grad=True)
    q_tot, _ = mixer(agent_q, state, torch.ones(256, 3))
    (grad,) = torch.autograd.grad(q_tot.sum(), agent_q)
    assert (grad >= 0).all()
    raised = agent_q.detach() + torch.tensor([0.0, 1.0, 0.0])
    assert (mixer(raised, state, torch.ones(256, 3))[0] >= q_tot.detach() - 1e-6).all()


def test_qmix_contributions_are_the_weighted_values_and_sum_to_q_tot_minus_bias():
    torch.manual_seed(0)
    mixer = QMixer(state_dim=8, num_agents=3, hypernet_hidden=16)
    state, agent_q = torch.randn(5, 8), torch.randn(5, 3)
    active = torch.tensor([[1.0, 1.0, 0.0]] * 5)
    q_tot, contributions = mixer(agent_q, state, active)
    expected = mixer.weights(state) * agent_q * active
    torch.testing.assert_close(contributions, expected)
    torch.testing.assert_close(q_tot, expected.sum(-1) + mixer.hyper_b(state).squeeze(-1))
    assert (contributions[:, 2] == 0).all()


def test_contribution_variance_is_the_variance_over_active_agents_only():
    contributions = torch.tensor([[1.0, 2.0, 6.0], [1.0, 3.0, 100.0], [5.0, 0.0, 0.0]])
    active = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    variance = contribution_variance(contributions, active)
    torch.testing.assert_close(variance, torch.tensor([np.var([1, 2, 6]), 1.0, 0.0]).float())


@pytest.fixture(scope="module")
def team_module():
    torch.manual_seed(0)
    spec = build_policy_spec(DIMS, ACTIONS, MLP, MixerConfig(kind="qmix", **SMALL))
    return spec.build()


def test_a_level_that_sat_out_does_not_enter_the_mixers_state(team_module):
    mixer = team_module[C.TEAM]
    obs = [torch.randn(4, DIMS[level]) for level in DIMS]
    other = [obs[0], obs[1], torch.randn(4, DIMS["leaf"])]
    active = torch.tensor([[1.0, 1.0, 0.0]] * 4)
    agent_q = torch.randn(4, 3)
    torch.testing.assert_close(
        mixer.mix(agent_q, obs, active)[0], mixer.mix(agent_q, other, active)[0]
    )


def test_policy_without_a_mixer_has_only_the_level_modules():
    spec = build_policy_spec(DIMS, ACTIONS, MLP, MixerConfig(kind="none", **SMALL))
    assert set(spec.rl_module_specs) == {"cluster", "rack", "leaf"}
    with pytest.raises(ConfigError, match="model.mixer.kind"):
        MixerConfig(kind="qtran", **SMALL)


def test_a_checkpoint_restores_the_mixer(team_module, tmp_path):
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule

    team_module.save_to_path(str(tmp_path / "policy"))
    restored = MultiRLModule.from_checkpoint(str(tmp_path / "policy"))
    obs = [torch.randn(4, DIMS[level]) for level in DIMS]
    agent_q, active = torch.randn(4, 3), torch.ones(4, 3)
    torch.testing.assert_close(
        restored[C.TEAM].mix(agent_q, obs, active)[0],
        team_module[C.TEAM].mix(agent_q, obs, active)[0],
    )
