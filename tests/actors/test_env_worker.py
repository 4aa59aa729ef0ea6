"""EnvWorker: with a mixer in the policy, env actors feed the team stream too."""

import numpy as np

from actors.env_worker import EnvWorker
from marl_alloc import columns as C
from marl_alloc.apex.builder import build_apex_config
from marl_alloc.compose import compose_settings


def test_env_actors_write_team_transitions_with_priorities_when_the_policy_has_a_mixer():
    settings = compose_settings(["model.mixer.kind=qmix"])
    pushed = []
    worker = EnvWorker(
        settings["env"],
        build_apex_config(settings).rl_module_spec,
        pushed.append,
        num_envs=2,
        seed=0,
        epsilon=0.5,
        n_step=2,
        gamma=0.9,
    )
    worker.collect(6)
    team = pushed[0][C.TEAM]
    assert len(team[C.REWARDS]) > 0
    assert np.isfinite(team[C.TD_ABS]).all() and (team[C.TD_ABS] > 0).any()
    assert team[C.level_column("cluster", C.ACTIVE)].all()
