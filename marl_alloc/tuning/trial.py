"""ApexTrial: one member of the PBT population, a Tune Trainable around an ApexAlgorithm.

Tune hands a trial its hyperparameters as a nested config (`{"replay": {"alpha": 0.7}}`); the
trial writes them into the marl-alloc settings and builds the algorithm with the one builder, so
per-level learning rates reach RLlib's per-module optimizers and replay keys reach the shards.
PBT's exploit is `reset_config` (or a fresh actor) with the explored config, then
`load_checkpoint` of a better trial's checkpoint: weights, optimizer state and counters are
copied, the learning rate is the new config's (RLlib's scheduler sets it at the next update);
replay is not copied: the new shards refill from the copied policy.
"""

import dataclasses
from pathlib import Path
from typing import Any

from ray import tune

from marl_alloc.floor.settings import CONFIG_FILE, EnvConfig, Settings
from marl_alloc.floor.settings.tune import TrialConfig, TuneEvalConfig
from marl_alloc.tuning.space import Hyperparameter, flatten

EVAL_KEYS = ("total_cost", "sla_violation_rate", "energy_kwh")


def greedy_score(algo: Any, env: EnvConfig, evaluation: TuneEvalConfig) -> dict[str, float]:
    """Total cost (evaluate's figure, lower is better), SLA rate and energy of the greedy policy
    on `evaluation.episodes` finite episodes with seeds the actors never train on."""
    from marl_alloc.scoring import score

    env = dataclasses.replace(env, episode_tasks=evaluation.episode_tasks)
    result = score(algo.acting_policy(), env, evaluation.episodes, evaluation.seed)
    return {f"eval_{key}": result[key] for key in EVAL_KEYS}


class ApexTrial(tune.Trainable):
    """Trains an ApexAlgorithm `report_every_env_steps` at a time and reports a greedy score."""

    def setup(
        self,
        config: dict,
        settings: Settings,
        params: list[Hyperparameter],
        report_every_env_steps: int,
        evaluation: TuneEvalConfig,
    ) -> None:
        """Build the algorithm for this trial's hyperparameters; its actors start lazily."""
        self.base_settings, self.params = settings, params
        self.report_every = int(report_every_env_steps)
        self.evaluation = evaluation
        self.algo = self._build(config)

    def _build(self, config: dict) -> Any:
        from marl_alloc.apex.builder import build_apex_config

        self.settings = self.base_settings.with_values(flatten(self.params, config))
        return build_apex_config(self.settings).build_algo()

    def step(self) -> dict[str, Any]:
        """Train to the next multiple of report_every_env_steps, then score greedily."""
        from marl_alloc.apex.algorithm import ENV_STEPS_LIFETIME, UPDATES_LIFETIME

        env_steps = int(self.algo.metrics.peek(ENV_STEPS_LIFETIME, default=0))
        # Multiples, so every trial reports at the same env steps, also after an exploit.
        target = (env_steps // self.report_every + 1) * self.report_every
        while env_steps < target:
            result = self.algo.train()
            env_steps = int(result.get(ENV_STEPS_LIFETIME, 0))
        apex = result.get("apex", {})
        return {
            "env_steps": env_steps,
            "updates": int(result.get(UPDATES_LIFETIME, 0)),
            "reward_mean": float(apex.get("reward_mean", float("nan"))),
            **greedy_score(self.algo, self.settings.env, self.evaluation),
        }

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        """RLlib's checkpoint of the algorithm plus the trial's settings (as train saves them)."""
        self.algo.save_to_path(checkpoint_dir)
        self.settings.save(Path(checkpoint_dir) / CONFIG_FILE)

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        """Continue from a checkpoint (PBT: a better trial's) with this trial's hyperparameters."""
        if self.algo.runtime is not None:
            # The running pipeline holds the old weights: start over from the checkpoint.
            self.algo.stop()
            self.algo = self._build(self.config)
        self.algo.restore_from_path(checkpoint_dir)

    def reset_config(self, new_config: dict) -> bool:
        """Reuse this actor for the explored config: a new algorithm, weights come next."""
        self.algo.stop()
        self.algo = self._build(new_config)
        return True

    def cleanup(self) -> None:
        """Stop the algorithm and its Ape-X actors."""
        self.algo.stop()


def trial_resources(settings: Settings, trial: TrialConfig) -> Any:
    """What one trial reserves: with `training.local` the whole pipeline runs in the trial's
    process (`tune.trial.cpus`); otherwise the group also holds the learner actor."""
    from marl_alloc.apex.runtime import learner_gpus

    head = {"CPU": trial.cpus}
    if trial.gpus > 0:
        head["GPU"] = trial.gpus
    training = settings.training
    if training.local:
        return tune.PlacementGroupFactory([head])
    # The learner actor (default scheduling) lands in the trial's group; env actors and replay
    # shards ask for SPREAD, which places them outside it, on CPUs the groups leave free.
    learner = {"CPU": training.learner_num_cpus}
    gpus = learner_gpus(training.learner_num_gpus)
    if gpus > 0:
        learner["GPU"] = gpus
    return tune.PlacementGroupFactory([head, learner])
