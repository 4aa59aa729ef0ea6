"""Pipeline bench: the shared config, the replay-ratio arithmetic and RLlib's masked DQN module."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from marl_alloc.bench import pipeline


def test_window_rates_and_replay_ratio():
    start = {"time_s": 10.0, "env_steps": 1000, "updates": 5, "trained_samples": 1920}
    end = {"time_s": 20.0, "env_steps": 11000, "updates": 31, "trained_samples": 11904}
    out = pipeline.window(start, end)
    assert out["env_steps_per_s"] == 1000.0
    assert out["updates_per_s"] == 2.6
    assert out["replay_ratio"] == pytest.approx(0.998, abs=1e-3)


@pytest.mark.parametrize("runners", [0, 1, 4])
def test_rllib_training_intensity_gives_the_replay_ratio(runners):
    # RLlib: native = batch / (fragment * (runners + 1)); it samples from max(runners, 1)
    # runners and trains every level module per update.
    batch, fragment, modules, ratio = 128, 64, 3, 1.5
    intensity = pipeline.rllib_training_intensity(ratio, runners)
    updates_per_sample_round = intensity / (batch / (fragment * (runners + 1)))
    env_steps = fragment * max(runners, 1)
    assert updates_per_sample_round * batch * modules / env_steps == pytest.approx(ratio)


def test_bench_settings_fit_the_actors_into_the_cpus():
    settings = pipeline.bench_settings([], num_actors=4, num_cpus=2, ratio=1.0)
    training, replay = settings.training, settings.replay
    used = training.learner_num_cpus + 4 * training.actor_num_cpus
    assert used + replay.num_shards * replay.num_cpus == pytest.approx(2.0, abs=1e-3)
    assert settings.model.policy.encoder == "mlp"
    assert replay.samples_per_insert == 1.0


def test_masked_dqn_module_never_picks_an_illegal_action():
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from marl_alloc.policy.spec import level_observation_space

    sizes = DefaultModelConfig(fcnet_hiddens=[16], head_fcnet_hiddens=[])
    spec = RLModuleSpec(
        module_class=pipeline.masked_dqn_module_class(),
        observation_space=level_observation_space(6, 4),
        action_space=gym.spaces.Discrete(4),
        model_config=DQNConfig().rl_module(model_config=sizes).model_config,
    )
    module = spec.build()
    mask = torch.tensor([[1, 0, 0, 1]] * 64, dtype=torch.float32)
    batch = {"obs": {"obs": torch.randn(64, 6), "action_mask": mask}}
    q = module.compute_q_values(batch)[QF_PREDS]
    assert torch.isinf(q[:, 1:3]).all() and torch.isfinite(q[:, [0, 3]]).all()
    actions = module.forward_exploration(batch, t=0)["actions"].numpy()  # epsilon starts at 1
    assert set(np.unique(actions)) <= {0, 3}
