"""The team stream in replay: per-cycle team rows from the adder, observations compressed."""

import numpy as np

from actors.adder import NStepAdder
from marl_alloc.floor import columns as C
from replay import PrioritizedShard

DIMS = {"cluster": 6, "rack": 5, "leaf": 8}


def _team_rows(cycles: int = 40, num_envs: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    adder = NStepAdder(num_envs, DIMS, DIMS, n_step=2, gamma=0.9, team=True)
    for _ in range(cycles):
        deferred = rng.random(num_envs) < 0.3
        for level, dim in DIMS.items():
            active = np.ones(num_envs, bool) if level == "cluster" else ~deferred
            obs = np.round(rng.random((num_envs, dim)), 2).astype(np.float32)
            mask = np.ones((num_envs, dim), bool)
            adder.add_decisions(level, active, obs, mask, rng.integers(0, dim, num_envs), obs[:, 0])
        adder.end_cycle(rng.random(num_envs).astype(np.float32), np.zeros(num_envs, bool))
    return adder.take()[C.TEAM]


def test_team_rows_come_back_from_a_shard_intact_with_observations_compressed():
    team = _team_rows()
    n = len(team[C.REWARDS])
    shard = PrioritizedShard({"capacity": 4096, "min_size_to_sample": 10, "zstd_dict_bytes": 0})
    shard.add({C.TEAM: {**team, C.TD_ABS: np.ones(n), C.ATTENTION: np.zeros(n)}})
    sampled = shard.sample(16)[C.TEAM]
    rows = sampled[C.INDICES]
    for column, values in team.items():
        np.testing.assert_array_equal(sampled[column], values[rows])
    assert shard.stats()["modules"][C.TEAM]["obs_compression_ratio"] > 1.2
