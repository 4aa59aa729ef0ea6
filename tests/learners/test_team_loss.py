"""The credit-assignment loss: Q_tot from the level modules through the mixer, its double-Q target
under the next masks, and the variance penalty on the levels' contributions."""

import numpy as np
import pytest
import torch

from marl_alloc.apex.algorithm import ApexConfig
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings import (
    MixerConfig,
    PolicyConfig,
    Settings,
    SyntheticEnvConfig,
    TrainingConfig,
)
from marl_alloc.policy import LEVEL_MODULES, build_policy_spec, module_for_agent, spec_spaces
from marl_alloc.policy.level_q_module import Q_VALUES
from marl_alloc.policy.team_values import team_values

DIMS = {"cluster": 6, "rack": 5, "leaf": 4}
ACTIONS = {"cluster": 4, "rack": 3, "leaf": 2}
MLP = PolicyConfig(encoder="mlp", hidden_sizes=[16])


def _learner(kind: str, credit_weight: float, lr: float = 1e-2, normalize: bool = False):
    mixer = MixerConfig(kind=kind, hypernet_hidden=16, normalize=normalize)
    spec = build_policy_spec(DIMS, ACTIONS, MLP, mixer)
    config = (
        ApexConfig()
        .multi_agent(policies={*LEVEL_MODULES, C.TEAM}, policy_mapping_fn=module_for_agent)
        .rl_module(rl_module_spec=spec)
        .training(lr=lr)
    )
    training = TrainingConfig(credit_weight=credit_weight)
    config.settings = Settings(env=SyntheticEnvConfig(), training=training)
    return config.build_learner(spaces=spec_spaces(spec))


def _team_batch(n: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch = {
        C.REWARDS: rng.normal(size=n).astype(np.float32),
        C.DISCOUNTS: np.full(n, 0.9, np.float32),
        C.WEIGHTS: np.ones(n, np.float32),
    }
    for level in LEVEL_MODULES:
        col = lambda name, lv=level: C.level_column(lv, name)  # noqa: E731
        batch[col(C.OBS)] = rng.normal(size=(n, DIMS[level])).astype(np.float32)
        batch[col(C.NEXT_OBS)] = rng.normal(size=(n, DIMS[level])).astype(np.float32)
        batch[col(C.ACTION_MASK)] = np.ones((n, ACTIONS[level]), bool)
        batch[col(C.NEXT_ACTION_MASK)] = np.ones((n, ACTIONS[level]), bool)
        batch[col(C.ACTIONS)] = rng.integers(0, ACTIONS[level], n)
        # The cluster always acts; rack and leaf sit out a deferred task's cycle.
        acts = np.ones(n, bool) if level == "cluster" else rng.random(n) < 0.7
        batch[col(C.ACTIVE)] = acts
        batch[col(C.NEXT_ACTIVE)] = np.ones(n, bool) if level == "cluster" else ~acts
    return batch


def _tensors(batch) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v)) for k, v in batch.items()}


def _update(learner, batch):
    return learner.fused_update({C.TEAM: _tensors(batch)})


def _levels(learner) -> dict:
    return {level: learner.module[level].unwrapped() for level in LEVEL_MODULES}


@pytest.mark.parametrize("kind", ["vdn", "qmix"])
def test_the_team_loss_trains_the_level_modules(kind):
    learner = _learner(kind, credit_weight=0.1, normalize=True)
    before = {m: [p.detach().clone() for p in learner.module[m].parameters()] for m in DIMS}
    result = _update(learner, _team_batch())
    for level, params in before.items():
        after = list(learner.module[level].parameters())
        assert any(not torch.equal(a, b) for a, b in zip(after, params, strict=True)), level
    assert result.rows == {C.TEAM: 32}
    assert torch.isfinite(result.priorities).all()


def test_credit_weight_adds_exactly_the_weighted_contribution_variance():
    batch = _team_batch()
    for weight in (0.0, 0.5):
        learner = _learner("qmix", credit_weight=weight, lr=0.0)
        result = _update(learner, batch)
        loss, parts = result.losses[C.TEAM], {k: float(v) for k, v in result.credit.items()}
        assert parts["credit_variance"] > 0
        expected = parts["team_loss"] + weight * parts["credit_variance"]
        assert float(loss) == pytest.approx(expected, rel=1e-5)
        if weight == 0.0:
            assert float(loss) == pytest.approx(parts["team_loss"], rel=1e-6)


def test_the_variance_penalty_pulls_the_contributions_together():
    batch = _team_batch()
    variance = {}
    for weight in (0.0, 10.0):
        torch.manual_seed(0)
        learner = _learner("vdn", credit_weight=weight, lr=3e-3)
        for _ in range(40):
            _update(learner, batch)
        values = team_values(_levels(learner), learner.module[C.TEAM], _tensors(batch), True)
        spread = values.contributions.std(-1, unbiased=False) * (values.active.sum(-1) == 3)
        variance[weight] = float(spread.mean())
    assert variance[10.0] < 0.5 * variance[0.0]


def test_the_target_uses_each_levels_best_allowed_next_action_and_skips_sat_out_levels():
    learner = _learner("vdn", credit_weight=0.0)
    batch = _team_batch()
    # Only the worst next action (by the online net) is allowed, at every level.
    levels = _levels(learner)
    expected_next = np.zeros(32, np.float32)
    for level, module in levels.items():
        next_obs = torch.from_numpy(batch[C.level_column(level, C.NEXT_OBS)])
        with torch.no_grad():
            worst = module.compute_q_values({C.OBS: next_obs})[Q_VALUES].argmin(-1).numpy()
            target_q = module.forward_target({C.OBS: next_obs})[Q_VALUES].numpy()
        mask = np.zeros((32, ACTIONS[level]), bool)
        mask[np.arange(32), worst] = True
        batch[C.level_column(level, C.NEXT_ACTION_MASK)] = mask
        next_active = batch[C.level_column(level, C.NEXT_ACTIVE)]
        expected_next += np.where(next_active, target_q[np.arange(32), worst], 0.0)
    values = team_values(levels, learner.module[C.TEAM], _tensors(batch), target=True)
    expected = batch[C.REWARDS] + batch[C.DISCOUNTS] * expected_next
    np.testing.assert_allclose(values.td_target.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_the_mixers_target_network_syncs_with_the_level_modules():
    learner = _learner("qmix", credit_weight=0.0)
    learner.config.settings.training.target_update_every = 3
    for _ in range(3):
        _update(learner, _team_batch())
    online, target = learner.module[C.TEAM].unwrapped().get_target_network_pairs()[0]
    for p_online, p_target in zip(online.parameters(), target.parameters(), strict=True):
        assert torch.equal(p_online, p_target)
