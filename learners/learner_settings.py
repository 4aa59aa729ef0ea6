"""How the learner runs its updates: the `training.*` keys it reads, typed and checked once."""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from marl_alloc.settings import UserError

LEARNER_PATHS = ("fused", "rllib_update")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class LearnerSettings:
    """`training.learner_path`, `batches_per_sample`, `precision`, `compile`, `cuda_graphs`
    (conf/training/default.yaml says what each does)."""

    learner_path: str = "fused"
    batches_per_sample: int = 1
    precision: str = "fp32"
    compile: bool = False
    cuda_graphs: bool = False

    def __post_init__(self) -> None:
        if self.learner_path not in LEARNER_PATHS:
            raise UserError(
                f"training.learner_path must be {' or '.join(LEARNER_PATHS)},"
                f" got {self.learner_path!r}"
            )
        if self.precision not in PRECISIONS:
            raise UserError(
                f"training.precision must be {' or '.join(PRECISIONS)}, got {self.precision!r}"
            )
        steps = self.batches_per_sample
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise UserError(f"training.batches_per_sample must be an integer >= 1, got {steps!r}")
        for name in ("compile", "cuda_graphs"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(
                    f"training.{name} must be true or false, got {getattr(self, name)!r}"
                )
        if self.learner_path == "rllib_update" and (
            self.precision != "fp32" or self.compile or self.cuda_graphs or steps != 1
        ):
            raise UserError(
                "training.learner_path=rllib_update runs the previous update as it was: leave"
                " precision=fp32, compile, cuda_graphs off and batches_per_sample=1"
            )

    @classmethod
    def from_training(cls, training: Mapping[str, Any]) -> "LearnerSettings":
        """The learner's settings from the `training` config section (defaults where the
        section is absent, as in a hand-built ApexConfig)."""
        return cls(**{f.name: training[f.name] for f in fields(cls) if f.name in training})
