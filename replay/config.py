"""ReplayConfig: the `replay` config section, checked once; unknown keys fail loudly."""

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

from replay.errors import ReplayError


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    """Every replay setting with its default (the same as conf/replay/default.yaml)."""

    num_shards: int = 1
    capacity: int = 200_000  # transitions per module over the whole cluster, split over shards
    alpha: float = 0.6
    beta_init: float = 0.4
    beta_final: float = 1.0
    beta_anneal_steps: int = 100_000
    eta: float = 0.5
    eps: float = 1e-6
    compress: bool = True
    chunk_size: int = 4
    zstd_level: int = 3
    zstd_dict_bytes: int = 16_384
    zstd_dict_train_chunks: int = 256
    zstd_min_saving: float = 0.1
    cache_chunks: int = 1024
    min_size_to_sample: int = 1000
    samples_per_insert: float | None = None
    samples_per_insert_tolerance: float = 0.5
    rate_limit_timeout_s: float = 10.0
    snapshot_dir: str | None = None
    snapshot_every_s: float | None = None
    durable: bool = False
    on_corrupt: str = "error"
    num_cpus: float = 0.25
    memory_mb: float | None = None  # Ray memory reservation per shard actor; None = none
    max_concurrency: int = 2
    # Adds an env actor may hold back while its shard has not acknowledged the previous one, so
    # it keeps collecting through a shard restart; 0 = wait for every acknowledgement.
    actor_backlog_adds: int = 0
    seed: int = 0

    @classmethod
    def from_mapping(cls, config: "Mapping[str, Any] | ReplayConfig") -> "ReplayConfig":
        """From a config section (dict or OmegaConf); a wrong key or value is a ReplayError."""
        if isinstance(config, ReplayConfig):
            return config
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - set(fields))
        if unknown:
            raise ReplayError(
                f"unknown replay setting(s) {unknown}; known: {', '.join(sorted(fields))}"
            )
        values = {name: _coerce(name, value, fields[name].type) for name, value in config.items()}
        return cls(**values)._checked()

    def _checked(self) -> "ReplayConfig":
        rules = [
            (self.num_shards >= 1, "replay.num_shards must be >= 1"),
            (self.capacity >= self.num_shards, "replay.capacity must be >= replay.num_shards"),
            (self.alpha >= 0, "replay.alpha must be >= 0"),
            (self.eps > 0, "replay.eps must be > 0 (a zero priority is never sampled again)"),
            (self.beta_anneal_steps >= 1, "replay.beta_anneal_steps must be >= 1"),
            (self.chunk_size >= 1, "replay.chunk_size must be >= 1"),
            (self.cache_chunks >= 0, "replay.cache_chunks must be >= 0"),
            (self.zstd_dict_bytes >= 0, "replay.zstd_dict_bytes must be >= 0 (0 = no dictionary)"),
            (0 <= self.zstd_min_saving < 1, "replay.zstd_min_saving must be in [0, 1)"),
            (self.min_size_to_sample >= 1, "replay.min_size_to_sample must be >= 1"),
            (
                self.samples_per_insert is None or self.samples_per_insert > 0,
                "replay.samples_per_insert must be > 0, or null to turn rate limiting off",
            ),
            (self.samples_per_insert_tolerance >= 0, "replay.samples_per_insert_tolerance >= 0"),
            (self.rate_limit_timeout_s > 0, "replay.rate_limit_timeout_s must be > 0"),
            (
                self.snapshot_every_s is None or self.snapshot_every_s > 0,
                "replay.snapshot_every_s must be > 0, or null for snapshots on demand only",
            ),
            (
                not self.durable or self.snapshot_dir is not None,
                "replay.durable needs replay.snapshot_dir (where the log is written)",
            ),
            (
                self.snapshot_every_s is None or self.snapshot_dir is not None,
                "replay.snapshot_every_s needs replay.snapshot_dir",
            ),
            (self.on_corrupt in ("error", "empty"), "replay.on_corrupt must be 'error' or 'empty'"),
            (self.max_concurrency >= 1, "replay.max_concurrency must be >= 1"),
            (self.actor_backlog_adds >= 0, "replay.actor_backlog_adds must be >= 0"),
            (
                self.memory_mb is None or self.memory_mb > 0,
                "replay.memory_mb must be > 0, or null to reserve none",
            ),
        ]
        for ok, message in rules:
            if not ok:
                raise ReplayError(message)
        return self

    def shard_capacity(self, shard_index: int) -> int:
        """This shard's share of `capacity` (the first shards take the remainder)."""
        base, extra = divmod(self.capacity, self.num_shards)
        return base + (shard_index < extra)

    def buffer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of PrioritizedBuffer taken from this config."""
        return {
            "alpha": self.alpha,
            "eta": self.eta,
            "eps": self.eps,
            "compress": self.compress,
            "chunk_size": self.chunk_size,
            "zstd_level": self.zstd_level,
            "zstd_dict_bytes": self.zstd_dict_bytes,
            "zstd_dict_train_chunks": self.zstd_dict_train_chunks,
            "zstd_min_saving": self.zstd_min_saving,
            "cache_chunks": self.cache_chunks,
        }


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """`value` as the field's type; ints pass for floats, nothing else is converted."""
    options = annotation.__args__ if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None and type(None) in options:
        return None
    kind = next(t for t in options if t is not type(None))
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ReplayError(f"replay.{name} must be a {kind.__name__}, got {value!r}")
