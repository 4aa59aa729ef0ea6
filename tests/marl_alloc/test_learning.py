"""The policy really learns: after a short local Ape-X run, the configured total cost on held-out
synthetic episodes is clearly below the untrained policy's for the median training seed."""

import dataclasses

import pytest
import torch

from marl_alloc.apex.builder import env_dimensions
from marl_alloc.bench.episode_seeds import TEST_EVAL_SEED
from marl_alloc.bench.learning import LEARNING_TEST_SETTINGS
from marl_alloc.floor.settings.compose import compose_settings
from marl_alloc.policy import acting_policy, build_policy_spec
from marl_alloc.policy.checkpoint import load_policy
from marl_alloc.scoring import score
from marl_alloc.train import run_training

TRAIN = [*LEARNING_TEST_SETTINGS, "training.total_env_steps=60000"]
EVAL_EPISODES, EVAL_TASKS, EVAL_SEED = 2, 300, TEST_EVAL_SEED


def _total_cost(module, env_settings) -> float:
    env = dataclasses.replace(env_settings, episode_tasks=EVAL_TASKS)
    return score(acting_policy(module), env, EVAL_EPISODES, EVAL_SEED)["total_cost"]


def _train_and_score(seed: int, run_dir) -> tuple[float, float]:
    settings = compose_settings([*TRAIN, f"seed={seed}"])
    obs_dims, num_actions = env_dimensions(settings.env)
    torch.manual_seed(seed)
    untrained = build_policy_spec(obs_dims, num_actions, settings.model.policy).build()
    run_dir.mkdir(parents=True)
    trained, _ = load_policy(run_training(settings, run_dir))
    return _total_cost(untrained, settings.env), _total_cost(trained, settings.env)


@pytest.mark.slow
def test_training_lowers_the_total_cost_of_the_untrained_policy(tmp_path):
    costs = {seed: _train_and_score(seed, tmp_path / f"seed{seed}") for seed in (0, 1, 2, 3)}
    # The median seed must improve clearly; one short run in four may end on a weaker policy.
    # Held-out episodes run to a common end after their last arrival, so the cost includes
    # the hosts the policy's placements keep on (seeds 0-3 gave 0.92, 0.78, 0.95, 0.64).
    ratios = sorted(after / before for before, after in costs.values())
    median_ratio = (ratios[1] + ratios[2]) / 2
    assert median_ratio < 0.9, f"total cost before -> after per seed: {costs}"
