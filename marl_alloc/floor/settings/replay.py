"""The `replay` group (conf/replay/default.yaml): Ape-X prioritized replay, sharded."""

import dataclasses
from typing import Any

from marl_alloc.floor.settings.checks import require_all
from marl_alloc.floor.settings.structured import from_mapping

ON_CORRUPT = ("error", "empty")


@dataclasses.dataclass
class ReplayConfig:
    """Shards, priorities, compression, rate limit and snapshots of the replay service."""

    num_shards: int = 1
    # Transitions per policy module over the whole cluster, split over the shards.
    capacity: int = 200_000
    # priority p = (|td| + eta * attention + eps) ** alpha; IS weights use beta, annealed per
    # sample call from beta_init to beta_final.
    alpha: float = 0.6
    beta_init: float = 0.4
    beta_final: float = 1.0
    beta_anneal_steps: int = 100_000
    eta: float = 0.5
    eps: float = 1e-6
    # OBS and NEXT_OBS live in zstd frames of chunk_size rows; a sampled row decodes its whole
    # chunk, so small chunks sample fast and the trained dictionary (0 = none) keeps them small.
    compress: bool = True
    chunk_size: int = 4
    zstd_level: int = 3
    zstd_dict_bytes: int = 16_384
    zstd_dict_train_chunks: int = 256
    zstd_min_saving: float = 0.1  # chunks zstd shrinks by less are kept raw
    cache_chunks: int = 1024
    min_size_to_sample: int = 1000
    # Reverb-style rate limit: sampled / inserted transitions (null = off), so env actors on a
    # few cores cannot outrun the learner. Off for a bare shard; training turns it on
    # (conf/replay/default.yaml).
    samples_per_insert: float | None = None
    samples_per_insert_tolerance: float = 0.5
    rate_limit_timeout_s: float = 10.0
    # Snapshots (Arrow IPC, zstd) under snapshot_dir/shard-NNN/: on demand and every
    # snapshot_every_s; durable also logs each add before acknowledging it. Shards on several
    # nodes need a shared dir.
    snapshot_dir: str | None = None
    snapshot_every_s: float | None = None
    durable: bool = False
    on_corrupt: str = "error"  # or `empty`: start empty with a warning
    num_cpus: float = 0.25
    # Memory Ray reserves per shard actor (MB), so shards land where their buffers fit.
    memory_mb: float | None = None
    # Shard actor threads for priority updates and stats (adds and samples have one each).
    max_concurrency: int = 2
    seed: int = 0

    def __post_init__(self):
        require_all(
            [
                (self.num_shards >= 1, "replay.num_shards must be >= 1"),
                (self.capacity >= self.num_shards, "replay.capacity must be >= replay.num_shards"),
                (self.alpha >= 0, "replay.alpha must be >= 0"),
                (0 <= self.beta_init <= 1, "replay.beta_init must be in [0, 1]"),
                (0 <= self.beta_final <= 1, "replay.beta_final must be in [0, 1]"),
                (self.eta >= 0, "replay.eta must be >= 0"),
                (self.eps > 0, "replay.eps must be > 0 (a zero priority is never sampled again)"),
                (self.beta_anneal_steps >= 1, "replay.beta_anneal_steps must be >= 1"),
                (self.chunk_size >= 1, "replay.chunk_size must be >= 1"),
                (self.cache_chunks >= 0, "replay.cache_chunks must be >= 0"),
                (
                    self.zstd_dict_bytes >= 0,
                    "replay.zstd_dict_bytes must be >= 0 (0 = no dictionary)",
                ),
                (0 <= self.zstd_min_saving < 1, "replay.zstd_min_saving must be in [0, 1)"),
                (self.min_size_to_sample >= 1, "replay.min_size_to_sample must be >= 1"),
                (
                    self.samples_per_insert is None or self.samples_per_insert > 0,
                    "replay.samples_per_insert must be > 0, or null to turn rate limiting off",
                ),
                (
                    self.samples_per_insert_tolerance >= 0,
                    "replay.samples_per_insert_tolerance must be >= 0",
                ),
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
                (
                    self.on_corrupt in ON_CORRUPT,
                    "replay.on_corrupt must be 'error' or 'empty'",
                ),
                (self.num_cpus >= 0, "replay.num_cpus must be >= 0"),
                (self.max_concurrency >= 1, "replay.max_concurrency must be >= 1"),
                (
                    self.memory_mb is None or self.memory_mb > 0,
                    "replay.memory_mb must be > 0, or null to reserve none",
                ),
            ]
        )

    @classmethod
    def from_mapping(cls, config: Any) -> "ReplayConfig":
        """The replay settings of a (possibly partial) mapping; a wrong key, type or value is
        a one-line ConfigError."""
        return from_mapping(cls, config, "replay")

    def shard_capacity(self, shard_index: int) -> int:
        """This shard's share of `capacity` (the first shards take the remainder)."""
        base, extra = divmod(self.capacity, self.num_shards)
        return base + (shard_index < extra)

    def buffer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of PrioritizedBuffer taken from this config."""
        keys = ("alpha", "eta", "eps", "compress", "chunk_size", "zstd_level", "zstd_dict_bytes")
        keys += ("zstd_dict_train_chunks", "zstd_min_saving", "cache_chunks")
        return {key: getattr(self, key) for key in keys}
