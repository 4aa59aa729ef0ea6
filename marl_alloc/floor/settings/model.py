"""The `model` group (conf/model/default.yaml): the policy's networks."""

import dataclasses

from marl_alloc.floor.settings.checks import require, require_all
from marl_alloc.floor.settings.forecast import ForecastNetConfig

ENCODERS = ("gat", "mlp")
MIXER_KINDS = ("vdn", "qmix")  # and none: no mixer


@dataclasses.dataclass
class PolicyConfig:
    """Per-level Q networks of the hierarchical policy (one shared module per level)."""

    # gat: graph attention between the acting agent and its children (torch-geometric GATConv),
    # children scored by a shared head, so the weights fit any topology; mlp: flat observation.
    encoder: str = "gat"
    embed_dim: int = 64
    heads: int = 2
    gat_layers: int = 1
    hidden_sizes: list[int] = dataclasses.field(default_factory=lambda: [128, 128])  # mlp
    dueling: bool = True

    def __post_init__(self):
        require(
            self.encoder in ENCODERS,
            f"model.policy.encoder must be gat or mlp, got {self.encoder}",
        )
        require_all(
            [
                (self.embed_dim > 0, "model.policy.embed_dim must be > 0"),
                (self.heads > 0, "model.policy.heads must be > 0"),
                (self.gat_layers > 0, "model.policy.gat_layers must be > 0"),
                (
                    all(size > 0 for size in self.hidden_sizes),
                    "model.policy.hidden_sizes must be > 0",
                ),
            ]
        )


@dataclasses.dataclass
class ForecasterConfig:
    """The policy's workload forecaster (module `forecaster`, trained by the learner on the
    actors' demand windows, on its own cadence beside the policy update): the first
    env.forecast_horizon steps of its per-leaf-group CPU forecast fill the observations'
    forecast slots (zeros when disabled)."""

    enabled: bool = False
    # A `python -m marl_alloc.forecast train` output dir: its hybrid's weights, normalization,
    # window, resolution and seasonal lags (then the four keys below are not used).
    init: str | None = None
    resolution_s: float = 10.0  # seconds per demand bin
    window: int = 24  # input bins
    horizon: int = 12  # forecast bins (>= env.forecast_horizon)
    # One batched forward serves every env with a newly closed bin once this share of an
    # actor's envs has one (the others keep their forecast until then; 0: each env as soon as
    # its bin closes). Batching amortizes the forward: ~1.4 ms a window at 96 rows, 3 at 12.
    batch_share: float = 0.5
    # The learner trains it apart from the policy update: one step of the forecaster alone,
    # on the newest `train_batch_size` of the forecaster rows replay has handed it, every
    # `train_every` policy updates. On a CPU a row costs ~40x a policy row (BiLSTM and Mamba
    # over the window, forward and backward), so this cadence is what keeps it from slowing the
    # policy: `python -m marl_alloc.bench learner --forecaster` measures both.
    train_every: int = 16
    train_batch_size: int = 32
    net: ForecastNetConfig = dataclasses.field(default_factory=ForecastNetConfig)

    def __post_init__(self):
        require_all(
            [
                (self.resolution_s > 0, "model.forecaster.resolution_s must be > 0"),
                (self.window > 0, "model.forecaster.window must be > 0"),
                (self.horizon > 0, "model.forecaster.horizon must be > 0"),
                (0 <= self.batch_share <= 1, "model.forecaster.batch_share must be in [0, 1]"),
                (
                    self.train_every > 0,
                    f"model.forecaster.train_every must be > 0 (policy updates per forecaster"
                    f" step), got {self.train_every}",
                ),
                (
                    self.train_batch_size > 0,
                    f"model.forecaster.train_batch_size must be > 0, got {self.train_batch_size}",
                ),
            ]
        )


@dataclasses.dataclass
class MixerConfig:
    """Credit assignment: mixes the levels' Q values into a team value trained on per-cycle team
    transitions. kind: none (independent level learners), vdn (sum of the active levels' Q) or
    qmix (non-negative state-conditioned weights from hypernetworks over the levels'
    observations). normalize: the active levels' weights sum to 1 (VDN: their mean)."""

    kind: str = "qmix"
    hypernet_hidden: int = 64
    normalize: bool = True

    def __post_init__(self):
        require(
            self.kind in ("none", *MIXER_KINDS),
            f"model.mixer.kind must be none, vdn or qmix; got {self.kind!r}",
        )
        require(self.hypernet_hidden > 0, "model.mixer.hypernet_hidden must be > 0")


@dataclasses.dataclass
class ModelConfig:
    """The hierarchical policy: level Q networks, the team mixer, the workload forecaster."""

    policy: PolicyConfig = dataclasses.field(default_factory=PolicyConfig)
    forecaster: ForecasterConfig = dataclasses.field(default_factory=ForecasterConfig)
    mixer: MixerConfig = dataclasses.field(default_factory=MixerConfig)
