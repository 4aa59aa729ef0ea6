"""ApexAlgorithm keeps no shadow learner: the driver builds no RLlib LearnerGroup or EnvRunner,
and with training.local no Ray; the pipeline's learner holds the state it checkpoints."""

import pytest
import ray

from marl_alloc.apex.builder import build_apex_config
from marl_alloc.floor.settings.compose import compose_settings
from tests.marl_alloc.tiny_run import TINY_RUN


@pytest.mark.slow
def test_a_local_run_keeps_one_learner_and_needs_no_ray(tmp_path):
    ray_before = ray.is_initialized()  # another test's session may run one
    settings = compose_settings([*TINY_RUN, "training.local=true"])
    algo = build_apex_config(settings).build_algo()
    try:
        assert algo.learner_group is None and algo.env_runner_group is None
        algo.train()
        assert algo._idle_learner is None  # the runtime's learner is the only one
        before = algo.get_module("leaf").state_dict()
        path = algo.save_to_path(str(tmp_path / "checkpoint"))
        assert (tmp_path / "checkpoint" / "learner_group" / "learner" / "rl_module").is_dir()
        algo.restore_from_path(path)
        after = algo.get_module("leaf").state_dict()
        assert all((after[k] == v).all() for k, v in before.items())
        assert ray.is_initialized() == ray_before
    finally:
        algo.stop()
