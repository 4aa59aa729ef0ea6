"""ApexAlgorithm: an RLlib Algorithm whose explicit `training_step` runs our Ape-X pipeline.

RLlib provides the config, the metrics, `save_to_path` / `from_checkpoint` and the checkpoint
layout. The driver builds no RLlib LearnerGroup or EnvRunner: the pipeline's learner (in this
process with `training.local`, else a Ray actor) holds the trained state and writes its part of
a checkpoint (`learner_group/learner/`, RLlib's layout) itself, with RLlib's Checkpointable API.
Env actors, replay shards and learner start on the first training step, so restoring a
checkpoint for evaluation starts nothing; until then a learner is built in this process only
when its state is asked for (a restore, a save, `get_module`).
"""

from pathlib import Path
from typing import Any

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_METRICS_LOGGER
from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils import force_list
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.debug import update_global_seed_if_necessary
from ray.tune.result import TRAINING_ITERATION

from learners.apex_torch_learner import ApexTorchLearner
from marl_alloc.floor.checksums import verify_manifest, write_manifest
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings import Settings
from marl_alloc.policy import LevelQModule, acting_policy, spec_spaces

ENV_STEPS_LIFETIME = "num_env_steps_sampled_lifetime"
UPDATES_LIFETIME = "num_learner_updates_lifetime"
TRANSITIONS_LIFETIME = "num_transitions_added_lifetime"
# Where a checkpoint keeps the learner's state (as RLlib's LearnerGroup writes it).
LEARNER_PATH = Path(COMPONENT_LEARNER_GROUP) / COMPONENT_LEARNER


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
        """The part of RLlib's setup an Algorithm without env runners and learner group needs:
        seeds, callbacks, evaluation config, metrics. The Ape-X pipeline starts lazily."""
        update_global_seed_if_necessary(self.config.framework_str, self.config.seed)
        self.callbacks = [cls() for cls in force_list(self.config.callbacks_class)]
        self.local_replay_buffer = None
        self.env_runner_group = None
        self.spaces = None
        self.env_to_module_connector = self.module_to_env_connector = None
        self.offline_data = None
        self.evaluation_config = self.config.get_evaluation_config_object()
        self.evaluation_config.validate()
        self.evaluation_config.freeze()
        self.evaluation_dataset = None
        self.reward_estimators = {}
        self._aggregator_actor_manager = None
        self._set_up_metrics()
        self.runtime = None
        # The learner state before the pipeline runs (fresh, or restored from a checkpoint).
        self._idle_learner: Learner | None = None

    def restore_env_runners(self, env_runner_group: Any) -> list[int]:
        """Nothing to restore: our env actors are restarted by Ray (see runtime)."""
        return []

    def training_step(self) -> None:
        """One round: actors collect into replay while the learner trains from it."""
        if self.runtime is None:
            from marl_alloc.apex.runtime import make_runtime

            restored = self._idle_learner.get_state() if self._idle_learner else None
            self.runtime = make_runtime(self.config, restored)
            self._idle_learner = None
        stats = self.runtime.run_round()
        self.metrics.log_value(ENV_STEPS_LIFETIME, stats.pop("env_steps"), reduce="lifetime_sum")
        self.metrics.log_value(UPDATES_LIFETIME, stats.pop("updates"), reduce="lifetime_sum")
        self.metrics.log_value(
            TRANSITIONS_LIFETIME, stats.pop("transitions"), reduce="lifetime_sum"
        )
        for key, value in stats.items():
            self.metrics.log_value(("apex", key), value, window=1)

    def policy_module(self) -> MultiRLModule:
        """A copy of the policy with the learner's latest weights, in eval mode."""
        module = self.config.rl_module_spec.build()
        if self.runtime is not None:
            module.set_state(self.runtime.learner_weights())
        else:
            module.set_state(self._learner().module.get_state(inference_only=True))
        module.foreach_module(lambda _, m: m.eval())
        return module

    def get_module(self, module_id: str = "default_policy") -> Any:
        """One module of `policy_module()` (RLlib's accessor; None for an unknown id)."""
        return self.policy_module().get(module_id)

    def acting_policy(self) -> Any:
        """The greedy policy of the learner's latest weights, fed its forecasts when it has a
        forecaster: what evaluate acts with (marl_alloc.policy.acting_policy)."""
        return acting_policy(self.policy_module())

    def get_checkpointable_components(self) -> list[tuple[str, Checkpointable]]:
        """None of RLlib's: the learner writes its own part (see `save_to_path`)."""
        return []

    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict[str, Any]:
        """The algorithm's own state: its metrics and iteration (the learner's is on disk)."""
        return {
            COMPONENT_METRICS_LOGGER: self.metrics.get_state(),
            TRAINING_ITERATION: self.iteration,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the metrics (lifetime counters) and the iteration."""
        if COMPONENT_METRICS_LOGGER in state:
            self.metrics.set_state(state[COMPONENT_METRICS_LOGGER])
        if TRAINING_ITERATION in state:
            self._iteration = state[TRAINING_ITERATION]

    def save_to_path(self, path: str | Path | None = None, **kwargs) -> str:
        """RLlib's checkpoint: the algorithm's metadata and state here, the learner's state
        under learner_group/learner/ (written by the learner that holds it); the replay shards
        snapshot themselves alongside (into `replay.snapshot_dir`, when set). The checksums of
        every file written come last (marl_alloc.floor.checksums)."""
        if self.runtime is not None:
            self.runtime.snapshot_replay()
        path = Path(super().save_to_path(path, **kwargs))
        if self.runtime is not None:
            self.runtime.save_learner(path / LEARNER_PATH)
        else:
            self._learner().save_to_path(path / LEARNER_PATH)
        write_manifest(path)
        return str(path)

    def restore_from_path(self, path: str | Path, *args, **kwargs) -> None:
        """Counters, iteration and the learner (modules, optimizers) from a checkpoint whose
        checksums match (a corrupt one is a UserError before anything loads)."""
        verify_manifest(Path(path))
        learner_dir = Path(path) / LEARNER_PATH
        try:
            Checkpointable.restore_from_path(self, path, *args, **kwargs)
            if self.runtime is not None:
                self.runtime.restore_learner(learner_dir)
            else:
                self._learner().restore_from_path(learner_dir)
        except Exception as err:  # noqa: BLE001 - pickles and tensors fail in many ways
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise UserError(
                f"checkpoint {path} is corrupt: cannot load it ({first_line})"
            ) from None

    def _learner(self) -> Learner:
        """The learner before the pipeline starts, built on first use."""
        if self._idle_learner is None:
            spaces = spec_spaces(self.config.rl_module_spec)
            self._idle_learner = self.config.build_learner(spaces=spaces)
        return self._idle_learner

    def cleanup(self) -> None:
        """Stop the Ape-X actors, then RLlib's own."""
        if self.runtime is not None:
            self.runtime.shutdown()
            self.runtime = None
        super().cleanup()
