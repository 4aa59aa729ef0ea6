"""PrioritizedBuffer: one module's transitions in a ring, sampled in proportion to priority.

TorchRL's split: storage (RingStorage for plain columns, ChunkStorage for zstd-compressed
observations), a ring writer (the cursor and per-slot generations here) and a sampler (SumTree,
with a MinTree for the largest importance weight).
"""

from collections.abc import Mapping

import numpy as np

from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.replay import ReplayConfig
from replay.chunk_storage import ChunkStorage
from replay.codec import ZstdCodec
from replay.errors import ReplayError
from replay.ring_storage import ColumnsSpec, RingStorage, conform, spec_of
from replay.sum_tree import MinTree, SumTree

COMPRESSED_COLUMNS = (C.OBS, C.NEXT_OBS, *C.TEAM_OBS_COLUMNS)


def priority(
    td_abs: np.ndarray, attention: np.ndarray, alpha: float, eta: float, eps: float
) -> np.ndarray:
    """Ape-X dual priority p = (|td| + eta * attention + eps) ** alpha, as float64."""
    td_abs = np.abs(np.asarray(td_abs, np.float64))
    attention = np.asarray(attention, np.float64)
    if not (np.isfinite(td_abs).all() and np.isfinite(attention).all()):
        raise ReplayError("td_abs or attention holds NaN/inf; check the loss for divergence")
    return (td_abs + eta * attention + eps) ** alpha


class PrioritizedBuffer:
    """Columnar ring buffer of `capacity` transitions with proportional prioritized sampling.

    Defaults are those of the `replay` config; shapes and dtypes are fixed by `columns_spec` or
    by the first add.
    """

    def __init__(
        self,
        capacity: int,
        columns_spec: ColumnsSpec | None = None,
        *,
        alpha: float = ReplayConfig.alpha,
        eta: float = ReplayConfig.eta,
        eps: float = ReplayConfig.eps,
        compress: bool = ReplayConfig.compress,
        chunk_size: int = ReplayConfig.chunk_size,
        zstd_level: int = ReplayConfig.zstd_level,
        zstd_dict_bytes: int = ReplayConfig.zstd_dict_bytes,
        zstd_dict_train_chunks: int = ReplayConfig.zstd_dict_train_chunks,
        zstd_min_saving: float = ReplayConfig.zstd_min_saving,
        cache_chunks: int = ReplayConfig.cache_chunks,
    ):
        if capacity < 1:
            raise ReplayError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.alpha, self.eta, self.eps = float(alpha), float(eta), float(eps)
        self.compress = bool(compress)
        self._chunk_settings = {
            "chunk_size": int(chunk_size),
            "cache_chunks": int(cache_chunks),
            "dict_train_chunks": int(zstd_dict_train_chunks),
        }
        self._codec_settings = (int(zstd_level), int(zstd_dict_bytes), float(zstd_min_saving))
        self.sum_tree = SumTree(self.capacity)
        self.min_tree = MinTree(self.capacity)
        # Insertion number of the row in each slot: a sampled index is stale once it changes.
        self.generations = np.full(self.capacity, -1, np.int64)
        self.cursor = 0
        self.size = 0
        self.added = 0
        self.columns_spec: ColumnsSpec | None = None
        self._plain: RingStorage | None = None
        self._chunked: ChunkStorage | None = None
        if columns_spec is not None:
            self._allocate(columns_spec)

    def __len__(self) -> int:
        return self.size

    def _allocate(self, spec: ColumnsSpec) -> None:
        self.columns_spec = {
            name: (tuple(shape), str(dtype)) for name, (shape, dtype) in spec.items()
        }
        chunked = [c for c in COMPRESSED_COLUMNS if self.compress and c in spec]
        plain = {k: v for k, v in self.columns_spec.items() if k not in chunked}
        self._plain = RingStorage(self.capacity, plain)
        if chunked:
            self._chunked = ChunkStorage(
                self.capacity,
                {k: self.columns_spec[k] for k in chunked},
                ZstdCodec(*self._codec_settings),
                **self._chunk_settings,
            )

    def add(
        self, batch: Mapping[str, np.ndarray], td_abs: np.ndarray, attention: np.ndarray
    ) -> None:
        """Append rows (any number; the ring wraps) with priorities from |td| and attention."""
        self.write(*self.prepare(batch, td_abs, attention))

    def prepare(
        self, batch: Mapping[str, np.ndarray], td_abs: np.ndarray, attention: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The batch in this buffer's column layout and its priorities; changes nothing.

        Raises ReplayError for a batch that cannot be added, so a shard can check every module's
        batch before it logs or stores any of them.
        """
        if not batch:
            raise ReplayError("a replay batch needs at least one column")
        batch = conform(batch, self.columns_spec or spec_of(batch))
        n = len(td_abs)
        if any(len(column) != n for column in batch.values()) or len(attention) != n:
            raise ReplayError("batch columns, td_abs and attention must have the same length")
        return batch, priority(td_abs, attention, self.alpha, self.eta, self.eps)

    def write(self, batch: dict[str, np.ndarray], priorities: np.ndarray) -> None:
        """Append rows returned by `prepare`."""
        n = len(priorities)
        if n == 0:
            return
        if self.columns_spec is None:
            self._allocate(spec_of(batch))
        first = self.added
        if n > self.capacity:  # only the newest `capacity` rows would survive: write just those
            skip = n - self.capacity
            batch = {k: v[skip:] for k, v in batch.items()}
            priorities, first, n = priorities[skip:], first + skip, self.capacity
        slots = (self.cursor + np.arange(n)) % self.capacity
        self._plain.write(self.cursor, batch)
        if self._chunked is not None:
            self._chunked.write(self.cursor, batch)
        self.generations[slots] = first + np.arange(n)
        self.sum_tree.update(slots, priorities)
        self.min_tree.update(slots, priorities)
        self.cursor = (self.cursor + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        self.added = first + n

    def sample(
        self, batch_size: int, beta: float, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """`batch_size` rows drawn by priority, with IS WEIGHTS, INDICES and GENERATIONS."""
        if self.size == 0:
            raise ReplayError("cannot sample from an empty replay buffer; add transitions first")
        slots = self.sum_tree.sample(batch_size, rng)
        batch = self._plain.read(slots)
        if self._chunked is not None:
            batch.update(self._chunked.read(slots))
        # w_i = (N P(i)) ** -beta normalized by the largest weight, the one of the smallest
        # priority: N and the total cancel, leaving (p_i / p_min) ** -beta.
        batch[C.WEIGHTS] = ((self.sum_tree.get(slots) / self.min_tree.min()) ** -beta).astype(
            np.float32
        )
        batch[C.INDICES] = slots
        batch[C.GENERATIONS] = self.generations[slots]
        return batch

    def update_priorities(
        self,
        indices: np.ndarray,
        generations: np.ndarray,
        td_abs: np.ndarray,
        attention: np.ndarray,
    ) -> int:
        """Set new priorities for sampled rows not overwritten since; returns how many were set."""
        indices = np.asarray(indices, np.int64)
        generations = np.asarray(generations, np.int64)
        if not len(indices) == len(generations) == len(td_abs) == len(attention):
            raise ReplayError(
                "indices, generations, td_abs and attention must have the same length"
            )
        in_range = (indices >= 0) & (indices < self.capacity)
        current = in_range & (self.generations[np.where(in_range, indices, 0)] == generations)
        priorities = priority(td_abs, attention, self.alpha, self.eta, self.eps)[current]
        self.sum_tree.update(indices[current], priorities)
        self.min_tree.update(indices[current], priorities)
        return int(current.sum())

    def stats(self) -> dict[str, float]:
        """Size and memory: stored and raw bytes per transition, their ratio (and for OBS)."""
        raw_row = 0 if self._plain is None else self._plain.row_bytes
        stored = raw_row * self.size
        chunked_raw = chunked_stored = 0
        if self._chunked is not None:
            chunked_raw = self._chunked.row_bytes * self.size
            chunked_stored = self._chunked.stored_bytes()
            raw_row += self._chunked.row_bytes
        stored += chunked_stored
        size = max(self.size, 1)
        return {
            "size": self.size,
            "capacity": self.capacity,
            "added": self.added,
            "bytes_per_transition": stored / size,
            "raw_bytes_per_transition": float(raw_row),
            "compression_ratio": raw_row * self.size / stored if stored else 1.0,
            "obs_compression_ratio": chunked_raw / chunked_stored if chunked_stored else 1.0,
        }

    def get_state(self) -> dict:
        """Everything needed to continue exactly: rows, priorities, generations, cursor."""
        return {
            "capacity": self.capacity,
            "compress": self.compress,
            "chunk_size": self._chunk_settings["chunk_size"],
            "columns_spec": self.columns_spec,
            "cursor": self.cursor,
            "size": self.size,
            "added": self.added,
            "generations": self.generations[: self.size].copy(),
            "priorities": self.sum_tree.get(np.arange(self.size)),
            "plain": None if self._plain is None else self._plain.get_state(self.size),
            "chunked": None if self._chunked is None else self._chunked.get_state(),
        }

    def set_state(self, state: dict) -> None:
        """Load a state from get_state of a buffer with the same capacity and chunk layout."""
        saved = (int(state["capacity"]), bool(state["compress"]), int(state["chunk_size"]))
        mine = (self.capacity, self.compress, self._chunk_settings["chunk_size"])
        if saved != mine:
            raise ReplayError(
                f"replay state has (capacity, compress, chunk_size) = {saved}, this buffer {mine};"
                " restore with the replay settings it was saved with"
            )
        self.cursor, self.size, self.added = (int(state[k]) for k in ("cursor", "size", "added"))
        self.generations[:] = -1
        self.generations[: self.size] = state["generations"]
        leaves = np.zeros(self.capacity)
        leaves[: self.size] = state["priorities"]
        self.sum_tree.set_state({"leaves": leaves})
        leaves[self.size :] = np.inf
        self.min_tree.set_state({"leaves": leaves})
        self.columns_spec, self._plain, self._chunked = None, None, None
        if state["columns_spec"] is not None:
            self._allocate(state["columns_spec"])
            self._plain.set_state(state["plain"])
            if self._chunked is not None:
                self._chunked.set_state(state["chunked"])
