"""ApexAlgorithm: an RLlib Algorithm whose explicit `training_step` runs our Ape-X pipeline.

RLlib provides the config, the LearnerGroup that holds the policy for checkpoints, and
`save_to_path` / `from_checkpoint`. Our env actors, replay shards and learner actor are started
lazily on the first training step, so restoring a checkpoint for evaluation starts nothing.
"""

from typing import Any

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core import COMPONENT_LEARNER
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from envs import register_envs
from learners.apex_torch_learner import ApexTorchLearner
from marl_alloc.floor.settings import Settings
from marl_alloc.policy import LevelQModule

# Restoring a checkpoint in a fresh process imports this module (the pickled config names
# ApexConfig) before RLlib builds the local env runner, which looks the env up by name.
register_envs()

ENV_STEPS_LIFETIME = "num_env_steps_sampled_lifetime"
UPDATES_LIFETIME = "num_learner_updates_lifetime"
TRANSITIONS_LIFETIME = "num_transitions_added_lifetime"


class ApexConfig(AlgorithmConfig):
    """AlgorithmConfig plus the typed marl-alloc Settings it was built from (the learner reads
    `settings.training` and `settings.model`, the pipeline the rest)."""

    def __init__(self, algo_class: type | None = None):
        super().__init__(algo_class=algo_class or ApexAlgorithm)
        self.settings: Settings | None = None

    def get_default_learner_class(self) -> type:
        """Our n-step double-Q TorchLearner."""
        return ApexTorchLearner

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        """A level Q module; the builder sets one per level with its spaces."""
        return RLModuleSpec(module_class=LevelQModule)


class ApexAlgorithm(Algorithm):
    """Ape-X: env actors -> sharded prioritized replay -> learner, one explicit step at a time."""

    @classmethod
    def get_default_config(cls) -> ApexConfig:
        """A config with the Ape-X learner."""
        return ApexConfig()

    def setup(self, config: AlgorithmConfig) -> None:
        """RLlib's setup (learner group, local env runner); the Ape-X pipeline starts lazily."""
        # Ray keeps registered envs in the cluster's store: after a Ray restart in this process
        # (a test session, a Tune trial) the registration made at import is gone.
        register_envs()
        super().setup(config)
        self.runtime = None

    def training_step(self) -> None:
        """One round: actors collect into replay while the learner trains from it."""
        if self.runtime is None:
            from marl_alloc.apex.runtime import make_runtime

            learner_state = self.learner_group.get_state()[COMPONENT_LEARNER]
            self.runtime = make_runtime(self.config, learner_state)
        stats = self.runtime.run_round()
        self.metrics.log_value(ENV_STEPS_LIFETIME, stats.pop("env_steps"), reduce="lifetime_sum")
        self.metrics.log_value(UPDATES_LIFETIME, stats.pop("updates"), reduce="lifetime_sum")
        self.metrics.log_value(
            TRANSITIONS_LIFETIME, stats.pop("transitions"), reduce="lifetime_sum"
        )
        for key, value in stats.items():
            self.metrics.log_value(("apex", key), value, window=1)

    def sync_learner_group(self) -> None:
        """Copy the learner actor's state into RLlib's LearnerGroup and its weights into the
        local env runner, so `get_module()` after a restore acts with the trained policy."""
        if self.runtime is not None:
            self.learner_group.set_state({COMPONENT_LEARNER: self.runtime.learner_state()})
            self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group)

    def acting_policy(self) -> Any:
        """The greedy policy of the learner's latest weights, fed its forecasts when it has a
        forecaster: what evaluate acts with (marl_alloc.policy.acting_policy)."""
        from marl_alloc.policy import acting_policy

        self.sync_learner_group()
        return acting_policy(self.env_runner.module)

    def save_to_path(self, *args, **kwargs) -> str:
        """RLlib's checkpoint, after the learner group has the trained state; the replay
        shards snapshot themselves alongside (into `replay.snapshot_dir`, when set)."""
        self.sync_learner_group()
        if self.runtime is not None:
            self.runtime.snapshot_replay()
        return super().save_to_path(*args, **kwargs)

    def cleanup(self) -> None:
        """Stop the Ape-X actors, then RLlib's own."""
        if self.runtime is not None:
            self.runtime.shutdown()
            self.runtime = None
        super().cleanup()
