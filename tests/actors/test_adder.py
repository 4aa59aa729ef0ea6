import numpy as np
import pytest

from actors.adder import NStepAdder
from marl_alloc.floor import columns as C

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


LEVELS = ("cluster", "rack", "leaf")
TEAM_DIMS = {"cluster": 2, "rack": 3, "leaf": 4}


def _team_adder(n_step: int) -> NStepAdder:
    return NStepAdder(1, TEAM_DIMS, TEAM_DIMS, n_step=n_step, gamma=GAMMA, team=True)


def _cycle(adder: NStepAdder, t: float, acting: tuple[str, ...], reward: float) -> None:
    """One decision cycle in which the levels in `acting` decide (observation value t)."""
    for level in LEVELS:
        dim = TEAM_DIMS[level]
        adder.add_decisions(
            level,
            np.array([level in acting]),
            np.full((1, dim), t, np.float32),
            np.ones((1, dim), bool),
            np.array([int(t) % dim]),
            np.zeros(1),
        )
    adder.end_cycle(np.array([reward], np.float32), np.array([False]))


def test_team_transitions_hold_every_levels_part_of_a_cycle_and_the_next_cycles():
    adder = _team_adder(n_step=1)
    _cycle(adder, 0, LEVELS, 1.0)
    _cycle(adder, 1, ("cluster",), 2.0)  # deferred: rack and leaf sit out
    _cycle(adder, 2, LEVELS, 4.0)
    team = adder.take()[C.TEAM]
    np.testing.assert_allclose(team[C.REWARDS], [1.0, 2.0])
    np.testing.assert_allclose(team[C.DISCOUNTS], [GAMMA, GAMMA])
    active = np.stack([team[C.level_column(lv, C.ACTIVE)] for lv in LEVELS], -1)
    next_active = np.stack([team[C.level_column(lv, C.NEXT_ACTIVE)] for lv in LEVELS], -1)
    assert active.tolist() == [[True, True, True], [True, False, False]]
    assert next_active.tolist() == [[True, False, False], [True, True, True]]
    for level in LEVELS:
        np.testing.assert_allclose(team[C.level_column(level, C.OBS)][:, 0], [0, 1])
        np.testing.assert_allclose(team[C.level_column(level, C.NEXT_OBS)][:, 0], [1, 2])
        assert team[C.level_column(level, C.ACTIONS)].tolist() == [0, 1 % TEAM_DIMS[level]]


def test_team_n_step_return_spans_deferred_cycles_and_skips_cycles_nobody_acted_in():
    adder = _team_adder(n_step=2)
    _cycle(adder, 0, LEVELS, 1.0)
    _cycle(adder, 1, ("cluster",), 10.0)
    _cycle(adder, 2, (), 100.0)  # no pending task: no team decision, the reward carries over
    _cycle(adder, 3, LEVELS, 1000.0)
    team = adder.take()[C.TEAM]
    assert len(team[C.REWARDS]) == 1
    np.testing.assert_allclose(team[C.REWARDS], [1 + GAMMA * 10 + GAMMA**2 * 100], rtol=1e-6)
    np.testing.assert_allclose(team[C.DISCOUNTS], [GAMMA**3], rtol=1e-6)
    np.testing.assert_allclose(team[C.level_column("cluster", C.NEXT_OBS)][:, 0], [3])


def test_level_streams_do_not_change_when_the_team_stream_is_on():
    with_team, without = _team_adder(n_step=2), NStepAdder(1, TEAM_DIMS, TEAM_DIMS, 2, GAMMA)
    for adder in (with_team, without):
        for t, acting in enumerate([LEVELS, ("cluster",), LEVELS, LEVELS, ("cluster",), LEVELS]):
            _cycle(adder, t, acting, float(t + 1))
    a, b = with_team.take(), without.take()
    assert set(a) == {*b, C.TEAM}
    for level in b:
        for column in b[level]:
            np.testing.assert_array_equal(a[level][column], b[level][column])


def test_episode_end_closes_team_transitions_without_bootstrap():
    adder = _team_adder(n_step=3)
    _cycle(adder, 0, LEVELS, 1.0)
    for level in LEVELS:
        adder.add_decisions(
            level,
            np.array([True]),
            np.ones((1, TEAM_DIMS[level]), np.float32),
            np.ones((1, TEAM_DIMS[level]), bool),
            np.zeros(1),
            np.zeros(1),
        )
    adder.end_cycle(np.array([2.0], np.float32), np.array([True]))
    team = adder.take()[C.TEAM]
    np.testing.assert_allclose(team[C.DISCOUNTS], [0.0, 0.0])
    np.testing.assert_allclose(sorted(team[C.REWARDS]), [2.0, 1 + GAMMA * 2])
    assert not any(team[C.level_column(lv, C.NEXT_ACTIVE)].any() for lv in LEVELS)
