import numpy as np
import pytest

from actors.adder import NStepAdder
from marl_alloc import columns as C

GAMMA = 0.9


def _adder(n_step: int, num_envs: int = 1) -> NStepAdder:
    return NStepAdder(num_envs, {"leaf": 2}, {"leaf": 3}, n_step=n_step, gamma=GAMMA)


def _act(adder: NStepAdder, t: float, active: bool = True, num_envs: int = 1) -> None:
    obs = np.full((num_envs, 2), t, np.float32)
    mask = np.ones((num_envs, 3), bool)
    actions = np.full(num_envs, int(t) % 3)
    adder.add_decisions("leaf", np.full(num_envs, active), obs, mask, actions, np.zeros(num_envs))


def test_one_step_transitions_chain_consecutive_decisions():
    adder = _adder(n_step=1)
    for t in range(3):
        _act(adder, t)
        adder.end_cycle(np.array([t + 1.0], np.float32), np.array([False]))
    batch = adder.take()["leaf"]
    np.testing.assert_allclose(batch[C.OBS][:, 0], [0, 1])
    np.testing.assert_allclose(batch[C.NEXT_OBS][:, 0], [1, 2])
    np.testing.assert_allclose(batch[C.REWARDS], [1, 2])
    np.testing.assert_allclose(batch[C.DISCOUNTS], [GAMMA, GAMMA])


def test_n_step_return_sums_discounted_rewards_and_bootstraps_n_ahead():
    adder = _adder(n_step=3)
    for t in range(5):
        _act(adder, t)
        adder.end_cycle(np.array([10.0**t], np.float32), np.array([False]))
    batch = adder.take()["leaf"]
    np.testing.assert_allclose(batch[C.OBS][:, 0], [0, 1])
    np.testing.assert_allclose(batch[C.NEXT_OBS][:, 0], [3, 4])
    np.testing.assert_allclose(batch[C.REWARDS][0], 1 + GAMMA * 10 + GAMMA**2 * 100, rtol=1e-6)
    np.testing.assert_allclose(batch[C.DISCOUNTS], [GAMMA**3, GAMMA**3], rtol=1e-6)


def test_cycles_a_level_sits_out_are_discounted_into_its_transition():
    adder = _adder(n_step=1)
    _act(adder, 0)
    adder.end_cycle(np.array([1.0], np.float32), np.array([False]))
    _act(adder, 1, active=False)
    adder.end_cycle(np.array([2.0], np.float32), np.array([False]))
    _act(adder, 2)
    batch = adder.take()["leaf"]
    assert len(batch[C.ACTIONS]) == 1
    np.testing.assert_allclose(batch[C.REWARDS], [1 + GAMMA * 2])
    np.testing.assert_allclose(batch[C.DISCOUNTS], [GAMMA**2])
    np.testing.assert_allclose(batch[C.NEXT_OBS][:, 0], [2])


def test_episode_end_flushes_open_transitions_without_bootstrap():
    adder = _adder(n_step=3)
    for t in range(2):
        _act(adder, t)
        adder.end_cycle(np.array([1.0], np.float32), np.array([t == 1]))
    batch = adder.take()["leaf"]
    assert len(batch[C.ACTIONS]) == 2
    np.testing.assert_allclose(batch[C.DISCOUNTS], [0.0, 0.0])
    np.testing.assert_allclose(sorted(batch[C.REWARDS]), [1.0, 1 + GAMMA])
    assert not batch[C.NEXT_ACTION_MASK].any()


@pytest.mark.parametrize("num_envs", [4])
def test_envs_in_a_batch_do_not_mix(num_envs):
    adder = _adder(n_step=1, num_envs=num_envs)
    rng = np.random.default_rng(0)
    for t in range(4):
        obs = np.stack([np.full(2, 100 * e + t, np.float32) for e in range(num_envs)])
        active = rng.random(num_envs) < 0.7
        adder.add_decisions(
            "leaf",
            active,
            obs,
            np.ones((num_envs, 3), bool),
            np.zeros(num_envs),
            np.zeros(num_envs),
        )
        adder.end_cycle(np.zeros(num_envs, np.float32), np.zeros(num_envs, bool))
    batch = adder.take()["leaf"]
    assert np.all(batch[C.OBS][:, 0] // 100 == batch[C.NEXT_OBS][:, 0] // 100)
    assert np.all(batch[C.NEXT_OBS][:, 0] > batch[C.OBS][:, 0])
