"""The forecaster's settings: its network sizes (conf/model/forecaster.yaml, shared by the
policy's forecaster and `python -m marl_alloc.forecast`) and the forecast command's own config
(conf/forecast/config.yaml)."""

import dataclasses

from marl_alloc.floor.settings.checks import require, require_all

PATHWAYS = ("lstm", "mamba")
# Ablations `forecast train` trains beside the hybrid, and the pathway each keeps.
ABLATIONS = {"lstm_only": ("lstm",), "mamba_only": ("mamba",)}
# Established forecasting libraries `forecast evaluate` can score beside ours (extra `[peers]`).
PEER_LIBRARIES = ("statsforecast", "neuralforecast")


def _positive(section: str, values: dict[str, float]) -> None:
    for key, value in values.items():
        require(value > 0, f"{section}.{key} must be > 0, got {value}")


@dataclasses.dataclass
class ForecastNetConfig:
    """Sizes of the hybrid forecaster: a BiLSTM and a Mamba block fused by a learned gate."""

    pathways: list[str] = dataclasses.field(default_factory=lambda: list(PATHWAYS))
    lstm_hidden: int = 64  # per direction: 128 units in all
    lstm_layers: int = 1
    d_model: int = 64
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    mamba_layers: int = 1
    fusion_dim: int = 128
    head_hidden: int = 128
    dropout: float = 0.1  # in the head
    # Anchor on the mean of the last n target values, taken off the target and its lags
    # (0: the last value, training statistics only).
    level_steps: int = 1

    def __post_init__(self):
        sizes = ("lstm_hidden", "lstm_layers", "d_model", "d_state", "d_conv", "expand")
        sizes += ("mamba_layers", "fusion_dim", "head_hidden")
        _positive("model", {key: getattr(self, key) for key in sizes})
        require_all(
            [
                (
                    bool(self.pathways) and set(self.pathways) <= set(PATHWAYS),
                    f"model.pathways must be a non-empty subset of {list(PATHWAYS)}, "
                    f"got {self.pathways}",
                ),
                (0 <= self.dropout < 1, "model.dropout must be in [0, 1)"),
                (self.level_steps >= 0, "model.level_steps must be >= 0"),
            ]
        )

    def sizes(self) -> dict[str, int | float]:
        """The network sizes beside `pathways`, as NetConfig takes them."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "pathways"}


@dataclasses.dataclass
class ForecastDataConfig:
    """How a series is cut into windows and split for training and scoring."""

    window: int = 24  # input steps (2 h at 5 min)
    horizon: int = 12  # forecast steps k (1 h at 5 min)
    train_fraction: float = 0.75  # train on the first 75% of the series ...
    val_fraction: float = 0.2  # ... of which the latest 20% validates for early stopping
    test_fraction: float = 0.25  # evaluate scores the last 25%, earlier rows serving as context
    resolution_s: float = 300.0  # seconds between rows of a series CSV without timestamps
    # A lag feature for each season the training rows span twice; the first season is the
    # seasonal naive baseline's.
    seasons_s: list[float] = dataclasses.field(default_factory=lambda: [86400.0, 604800.0])

    def __post_init__(self):
        _positive("data", {"window": self.window, "horizon": self.horizon})
        _positive("data", {"resolution_s": self.resolution_s})
        for key in ("train_fraction", "val_fraction", "test_fraction"):
            value = getattr(self, key)
            require(0 < value < 1, f"data.{key} must be in (0, 1), got {value}")
        require(
            bool(self.seasons_s) and all(s > 0 for s in self.seasons_s),
            f"data.seasons_s must be a non-empty list of seconds > 0, got {self.seasons_s}",
        )


@dataclasses.dataclass
class ForecastGroupsConfig:
    """Task traces become demand per leaf group (a stable hash of the job) plus the cluster."""

    leaf_groups: int = 12

    def __post_init__(self):
        _positive("groups", {"leaf_groups": self.leaf_groups})


@dataclasses.dataclass
class Google2011SeriesConfig:
    """Demand series of Google 2011 task_events."""

    resolution_s: float = 60.0  # a task_events part spans ~83 min

    def __post_init__(self):
        _positive("google2011", {"resolution_s": self.resolution_s})


@dataclasses.dataclass
class SyntheticSeriesConfig:
    """A synthetic diurnal + bursty task stream to forecast (days of it, binned)."""

    resolution_s: float = 300.0
    days: int = 14
    arrival_rate_per_s: float = 0.1
    diurnal_amplitude: float = 0.6
    bursts_per_day: float = 6.0
    burst_size_mean: float = 150.0
    duration_mean_s: float = 3600.0
    cpu_request_mean: float = 0.05
    mem_request_mean: float = 0.04
    target_utilization: float = 0.5

    def __post_init__(self):
        keys = ("resolution_s", "days", "arrival_rate_per_s", "burst_size_mean")
        keys += ("duration_mean_s", "cpu_request_mean", "mem_request_mean", "target_utilization")
        _positive("synthetic", {key: getattr(self, key) for key in keys})
        require(self.bursts_per_day >= 0, "synthetic.bursts_per_day must be >= 0")
        require(0 <= self.diurnal_amplitude <= 1, "synthetic.diurnal_amplitude must be in [0, 1]")


@dataclasses.dataclass
class ForecastTrainConfig:
    """How `forecast train` fits each model."""

    ablations: list[str] = dataclasses.field(default_factory=lambda: list(ABLATIONS))
    ensemble: int = 1  # members per model (seeds seed, seed + 1, ...), forecasts averaged
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.98  # validate and keep a moving average of the weights (0: the raw ones)
    max_epochs: int = 30
    patience: int = 5  # epochs without a better validation loss before stopping
    samples_per_epoch: int = 4096  # windows drawn per epoch (all when fewer)
    threads: int = 0  # torch CPU threads; 0 keeps torch's default

    def __post_init__(self):
        keys = ("ensemble", "batch_size", "lr", "max_epochs", "patience", "samples_per_epoch")
        _positive("train", {key: getattr(self, key) for key in keys})
        unknown = set(self.ablations) - set(ABLATIONS)
        require(
            not unknown, f"train.ablations: unknown {sorted(unknown)} (choose {list(ABLATIONS)})"
        )
        require_all(
            [
                (self.weight_decay >= 0, "train.weight_decay must be >= 0"),
                (self.grad_clip > 0, "train.grad_clip must be > 0"),
                (0 <= self.ema_decay < 1, "train.ema_decay must be in [0, 1)"),
                (self.threads >= 0, "train.threads must be >= 0"),
            ]
        )


@dataclasses.dataclass
class NhitsConfig:
    """neuralforecast's NHITS as `forecast evaluate` trains it (the neural peer)."""

    input_steps: int = 96  # input window (cut to what a short trace leaves room for)
    mlp_units: int = 256  # per layer: 2 layers in each of the 3 stacks
    max_steps: int = 1000
    windows_batch_size: int = 256
    val_check_steps: int = 50  # early stopping on the rows our nets validate on
    patience_checks: int = 5

    def __post_init__(self):
        _positive("evaluate.nhits", dataclasses.asdict(self))


@dataclasses.dataclass
class ForecastEvaluateConfig:
    """How `forecast evaluate` scores the models and plots them."""

    moving_average_steps: int = 12
    eval_batch_size: int = 512
    plot_steps: int = 576  # test steps shown in forecast.png (2 days at 5 min)
    # Peer libraries scored in the same run when installed, else skipped with a note.
    peers: list[str] = dataclasses.field(default_factory=lambda: list(PEER_LIBRARIES))
    nhits: NhitsConfig = dataclasses.field(default_factory=NhitsConfig)

    def __post_init__(self):
        sizes = ("moving_average_steps", "eval_batch_size", "plot_steps")
        _positive("evaluate", {key: getattr(self, key) for key in sizes})
        unknown = sorted(set(self.peers) - set(PEER_LIBRARIES))
        require(not unknown, f"evaluate.peers: unknown {unknown} (choose {list(PEER_LIBRARIES)})")


@dataclasses.dataclass
class ForecastSettings:
    """Everything `python -m marl_alloc.forecast train|evaluate` reads (conf/forecast)."""

    seed: int = 0
    data: ForecastDataConfig = dataclasses.field(default_factory=ForecastDataConfig)
    groups: ForecastGroupsConfig = dataclasses.field(default_factory=ForecastGroupsConfig)
    google2011: Google2011SeriesConfig = dataclasses.field(default_factory=Google2011SeriesConfig)
    synthetic: SyntheticSeriesConfig = dataclasses.field(default_factory=SyntheticSeriesConfig)
    train: ForecastTrainConfig = dataclasses.field(default_factory=ForecastTrainConfig)
    evaluate: ForecastEvaluateConfig = dataclasses.field(default_factory=ForecastEvaluateConfig)
    model: ForecastNetConfig = dataclasses.field(default_factory=ForecastNetConfig)

    def __post_init__(self):
        require(
            self.model.level_steps <= self.data.window,
            f"model.level_steps must be an integer in [0, data.window], "
            f"got {self.model.level_steps}",
        )
