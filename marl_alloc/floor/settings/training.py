"""The `training` group (conf/training/default.yaml): the Ape-X loop and its learner."""

import dataclasses

from marl_alloc.floor.settings.checks import require, require_all

LEVEL_LR_KEYS = ("lr_cluster", "lr_rack", "lr_leaf")
LEARNER_PATHS = ("fused", "rllib_update")
PRECISIONS = ("fp32", "bf16")


@dataclasses.dataclass
class TrainingConfig:
    """How long and with what the policy trains. Env steps count agent decisions
    (MultiAgentEnv turns), as RLlib does."""

    # true: env workers, replay and learner stepped in turn in this process, no Ray actors.
    local: bool = False
    total_env_steps: int = 60_000
    num_actors: int = 2
    actor_num_cpus: float = 0.25
    learner_num_cpus: float = 1.0
    learner_num_gpus: float | None = None  # null: 1 when the Ray cluster has a GPU, else 0
    collect_cycles: int = 16  # decision cycles per env actor call
    train_batch_size: int = 128
    updates_per_round: int = 8
    # n-step double-Q targets per decision cycle (~0.5-1 s of simulated time); gamma discounts
    # per cycle. A placement's energy cost shows minutes later, which the env charges at once
    # (env.reward.w_commit), so the horizon can stay short; with w_commit=0, raise gamma.
    n_step: int = 3
    gamma: float = 0.95
    lr: float = 5e-4
    # Per-level learning rates; null keeps lr.
    lr_cluster: float | None = None
    lr_rack: float | None = None
    lr_leaf: float | None = None
    lr_temporal: float | None = 1e-3  # the forecaster's (model.forecaster.enabled); null: lr
    # Team loss (model.mixer.kind != none): mixer_loss_weight * IS-weighted Huber on Q_tot, plus
    # credit_weight * the variance of the active levels' contributions (0 = no penalty).
    mixer_loss_weight: float = 1.0
    credit_weight: float = 0.1
    target_update_every: int = 250  # gradient updates between target network syncs
    # The learner's update. fused: each level network once per update over its own and the team
    # rows, one backward, one optimizer step per module. rllib_update: the previous path
    # (RLlib's Learner.update per batch), kept to compare against; it takes none of the options
    # below.
    learner_path: str = "fused"
    batches_per_sample: int = 1  # gradient steps per replay round-trip (one priority send)
    precision: str = "fp32"  # fp32 or bf16 (autocast of the forward pass and losses)
    compile: bool = False  # torch.compile the fused loss
    cuda_graphs: bool = False  # on a GPU learner, compile it with CUDA graphs (static shapes)
    tau: float = 1.0  # target sync: target = tau * online + (1 - tau) * target
    grad_clip: float = 10.0
    # Ape-X exploration: actor i of N acts epsilon-greedily with
    # epsilon_base ** (1 + epsilon_alpha * i / (N - 1)).
    epsilon_base: float = 0.4
    epsilon_alpha: float = 7.0
    weights_sync_every_s: float = 1.0
    log_every_s: float = 5.0
    checkpoint_dir: str | None = None  # null: RUN_DIR/checkpoint
    # Faults: Ray restarts a dead env actor, shard or learner this many times (-1: always);
    # shards resume from their snapshot in the run dir, the learner from the latest checkpoint.
    max_restarts: int = -1
    # Env actors built and kept idle; one takes over at once when an env actor fails (its
    # restart costs seconds of imports). Costs one idle process (memory); spares reserve no CPU.
    spare_actors: int = 1
    # Rewrite RUN_DIR/checkpoint (and snapshot replay) this often; 0 = only at the end.
    checkpoint_every_s: float = 60.0

    def __post_init__(self):
        for key in ("total_env_steps", "num_actors", "collect_cycles", "train_batch_size"):
            require(getattr(self, key) > 0, f"training.{key} must be > 0, got {getattr(self, key)}")
        for key in ("updates_per_round", "n_step", "target_update_every"):
            require(getattr(self, key) > 0, f"training.{key} must be > 0, got {getattr(self, key)}")
        for key in ("lr", *LEVEL_LR_KEYS, "lr_temporal"):
            value = getattr(self, key)
            require(value is None or value > 0, f"training.{key} must be > 0, got {value}")
        require_all(
            [
                (0 < self.gamma <= 1, f"training.gamma must be in (0, 1], got {self.gamma}"),
                (0 < self.tau <= 1, f"training.tau must be in (0, 1], got {self.tau}"),
                (
                    0 <= self.epsilon_base <= 1,
                    f"training.epsilon_base must be in [0, 1], got {self.epsilon_base}",
                ),
                (self.epsilon_alpha >= 0, "training.epsilon_alpha must be >= 0"),
                (self.grad_clip > 0, "training.grad_clip must be > 0"),
                (self.mixer_loss_weight >= 0, "training.mixer_loss_weight must be >= 0"),
                (self.credit_weight >= 0, "training.credit_weight must be >= 0"),
                (
                    self.actor_num_cpus >= 0 and self.learner_num_cpus >= 0,
                    "training.actor_num_cpus and learner_num_cpus must be >= 0",
                ),
                (
                    self.learner_num_gpus is None or self.learner_num_gpus >= 0,
                    "training.learner_num_gpus must be >= 0 or null",
                ),
                (self.weights_sync_every_s >= 0, "training.weights_sync_every_s must be >= 0"),
                (self.log_every_s > 0, "training.log_every_s must be > 0"),
                (self.max_restarts >= -1, "training.max_restarts must be >= -1 (-1: always)"),
                (self.spare_actors >= 0, "training.spare_actors must be >= 0"),
                (self.checkpoint_every_s >= 0, "training.checkpoint_every_s must be >= 0"),
            ]
        )
        self._check_learner()

    def _check_learner(self) -> None:
        require_all(
            [
                (
                    self.learner_path in LEARNER_PATHS,
                    f"training.learner_path must be {' or '.join(LEARNER_PATHS)},"
                    f" got {self.learner_path!r}",
                ),
                (
                    self.precision in PRECISIONS,
                    f"training.precision must be {' or '.join(PRECISIONS)}, got {self.precision!r}",
                ),
                (
                    self.batches_per_sample >= 1,
                    f"training.batches_per_sample must be >= 1, got {self.batches_per_sample}",
                ),
                (
                    self.learner_path == "fused"
                    or (
                        self.precision == "fp32"
                        and not self.compile
                        and not self.cuda_graphs
                        and self.batches_per_sample == 1
                    ),
                    "training.learner_path=rllib_update runs the previous update as it was:"
                    " leave precision=fp32, compile and cuda_graphs off, batches_per_sample=1",
                ),
            ]
        )

    def level_lr(self, level: str) -> float | None:
        """The level's own learning rate (`lr_<level>`), or None to keep `lr`."""
        return getattr(self, f"lr_{level}")
