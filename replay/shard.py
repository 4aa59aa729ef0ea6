"""PrioritizedShard: one replay shard, a PrioritizedBuffer per module behind one lock.

The loop it takes part in (Ape-X):

    shard.add({module_id: batch_with_td_abs_and_attention, ...}, source)  # env actors
    sampled = shard.sample(batch_size)                               # learner; None while warming
    shard.update_priorities({module_id: {INDICES, GENERATIONS, TD_ABS, ATTENTION}, ...})

It anneals beta over its sample calls, applies the samples-per-insert rate limit (waiting on a
condition variable when `blocking`, as in the Ray actor whose calls run on several threads),
and snapshots itself to `snapshot_dir`, logging every add first when `durable`: a periodic
snapshot copies the state under the lock and writes it on a background thread, and a restarted
shard replays snapshot and logs without writing a snapshot before it answers; with
`restore_in_background` (the Ray actor) it acknowledges adds, logged, while it replays them, and
samples after. An add that names its `source` (writer, number) is applied once however often
it is retried (WriterLedger).
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from marl_alloc.floor import columns as C
from marl_alloc.floor.settings.replay import ReplayConfig
from replay.errors import ReplayError, SnapshotError
from replay.prioritized_buffer import PrioritizedBuffer
from replay.rate_limiter import RateLimiter
from replay.snapshot import read_snapshot, write_snapshot
from replay.snapshot_store import SnapshotStore
from replay.writer_ledger import AddSource, WriterLedger

logger = logging.getLogger(__name__)

ModuleBatches = dict[str, dict[str, np.ndarray]]
COUNTERS = (
    "add_calls",
    "added",
    "duplicate_adds",
    "sample_calls",
    "sampled",
    "priority_updates",
    "stale_updates",
)


class PrioritizedShard:
    """A replay shard: per-module prioritized buffers, beta annealing, rate limit, snapshots."""

    def __init__(
        self,
        config: ReplayConfig | Mapping[str, Any],
        shard_index: int = 0,
        *,
        blocking: bool = False,
        restore_in_background: bool = False,
    ):
        self.config = ReplayConfig.from_mapping(config)
        self.shard_index = int(shard_index)
        self.capacity = self.config.shard_capacity(self.shard_index)
        self.min_size_to_sample = min(self.config.min_size_to_sample, self.capacity)
        self.blocking = blocking
        self._lock = threading.Condition()
        self._reset()
        self._store: SnapshotStore | None = None
        self._writing: Future | None = None  # a periodic snapshot being written
        self._restoring: Future | None = None  # a restore on the snapshot thread
        self._pending: list | None = None  # adds acknowledged while it runs, applied after it
        self.restored = {"restore_s": 0.0, "replayed_adds": 0}
        if self.config.snapshot_dir is not None:
            directory = Path(self.config.snapshot_dir) / f"shard-{self.shard_index:03d}"
            # Compressed rows are not compressed again in the snapshot file (CPU for ~15%).
            self._store = SnapshotStore(directory, self.config.durable, not self.config.compress)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="replay-snapshot")
            self._recover(restore_in_background)
        self._last_snapshot = time.monotonic()

    def _reset(self) -> None:
        self.buffers: dict[str, PrioritizedBuffer] = {}
        self.rng = np.random.default_rng([self.config.seed, self.shard_index])
        self.limiter = RateLimiter(
            self.config.samples_per_insert,
            self.config.samples_per_insert_tolerance,
            self.min_size_to_sample,
        )
        self.ledger = WriterLedger()
        self.counters: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self.counters.update(insert_wait_s=0.0, sample_wait_s=0.0, insert_timeouts=0)

    # ---- the Ape-X calls -------------------------------------------------------------------

    def add(self, batches: ModuleBatches, source: AddSource | None = None) -> int:
        """Add each module's batch (TD_ABS and ATTENTION give priorities); returns rows added,
        0 for a retry of an add from `source` that was applied already."""
        with self._lock:
            source = None if source is None else AddSource(*source)
            if self._pending is not None:
                return self._add_while_restoring(batches, source)
            if self._is_retry(source):
                return 0
            if self.blocking and not self.limiter.can_insert(self._ready()):
                caught_up = self._wait(
                    lambda: self.limiter.can_insert(self._ready()), "insert_wait_s"
                )
                # On timeout add anyway: losing experience is worse than overshooting the ratio.
                self.counters["insert_timeouts"] += not caught_up
            prepared = self._prepare(batches)  # checked before it is logged or stored
            if self._store is not None:
                self._store.append(batches, source)  # on disk before the add is acknowledged
            added = self._write(prepared, source)
            self._lock.notify_all()
            self._maybe_snapshot()
            return added

    def sample(self, batch_size: int) -> ModuleBatches | None:
        """`batch_size` rows per module holding >= min_size_to_sample; None if none is ready."""
        self._wait_restored()
        with self._lock:
            self._maybe_snapshot()
            if not self._ready():
                return None
            if not self.limiter.can_sample() and not (
                self.blocking and self._wait(self.limiter.can_sample, "sample_wait_s")
            ):
                return None  # the learner is too far ahead of the actors
            beta = self.beta()
            out = {
                module_id: buffer.sample(batch_size, beta, self.rng)
                for module_id, buffer in self.buffers.items()
                if len(buffer) >= self.min_size_to_sample
            }
            if not out:  # emptied by a restore while this call waited
                return None
            sampled = batch_size * len(out)
            self.counters["sample_calls"] += 1
            self.counters["sampled"] += sampled
            self.limiter.record_sample(sampled)
            self._lock.notify_all()
            return out

    def update_priorities(self, updates: ModuleBatches) -> int:
        """New priorities by INDICES; rows overwritten since sampling are skipped. Returns #set."""
        self._wait_restored()
        with self._lock:
            applied = requested = 0
            for module_id, update in updates.items():
                requested += len(update[C.INDICES])
                buffer = self.buffers.get(module_id)
                if buffer is not None:  # a shard restored empty knows no such module: all stale
                    applied += buffer.update_priorities(
                        update[C.INDICES],
                        update[C.GENERATIONS],
                        update[C.TD_ABS],
                        update[C.ATTENTION],
                    )
            self.counters["priority_updates"] += applied
            self.counters["stale_updates"] += requested - applied
            return applied

    def beta(self) -> float:
        """Importance-sampling exponent, annealed linearly over `beta_anneal_steps` samples."""
        progress = min(1.0, self.counters["sample_calls"] / self.config.beta_anneal_steps)
        return self.config.beta_init + (self.config.beta_final - self.config.beta_init) * progress

    def writers(self) -> dict[str, list[int]]:
        """Per writer: [last add applied, the writer's rows through it, rows applied]."""
        self._wait_restored()
        with self._lock:
            return self.ledger.get_state()

    def size(self) -> dict[str, int]:
        """Transitions held per module (none yet while a restore runs: it never waits)."""
        with self._lock:
            return {module_id: len(buffer) for module_id, buffer in self.buffers.items()}

    def stats(self) -> dict[str, Any]:
        """Sizes, counters, beta, bytes per transition and compression ratio."""
        self._wait_restored()
        with self._lock:
            per_module = {m: b.stats() for m, b in self.buffers.items()}
            size = sum(s["size"] for s in per_module.values())
            stored = sum(s["bytes_per_transition"] * s["size"] for s in per_module.values())
            raw = sum(s["raw_bytes_per_transition"] * s["size"] for s in per_module.values())
            return {
                "shard_index": self.shard_index,
                "size": size,
                "sizes": {m: s["size"] for m, s in per_module.items()},
                **self.counters,
                "beta": self.beta(),
                "bytes_per_transition": stored / size if size else 0.0,
                "compression_ratio": raw / stored if stored else 1.0,
                "modules": per_module,
                **self.restored,
            }

    # ---- internals -------------------------------------------------------------------------

    def _ready(self) -> bool:
        return any(len(b) >= self.min_size_to_sample for b in self.buffers.values())

    def _wait(self, predicate: Callable[[], bool], counter: str) -> bool:
        """Wait (lock released) until `predicate` or the timeout; True if it holds."""
        start = time.monotonic()
        ok = self._lock.wait_for(predicate, timeout=self.config.rate_limit_timeout_s)
        self.counters[counter] += time.monotonic() - start
        return ok

    def _buffer(self, module_id: str) -> PrioritizedBuffer:
        buffer = self.buffers.get(module_id)
        if buffer is None:
            buffer = PrioritizedBuffer(self.capacity, **self.config.buffer_kwargs())
            self.buffers[module_id] = buffer
        return buffer

    def _prepare(self, batches: ModuleBatches) -> list:
        """Check every module's batch before any is logged or stored."""
        _check_priorities(batches)
        prepared = []
        for module_id, batch in batches.items():
            columns = dict(batch)
            td_abs, attention = columns.pop(C.TD_ABS), columns.pop(C.ATTENTION)
            buffer = self._buffer(module_id)
            prepared.append((buffer, buffer.prepare(columns, td_abs, attention)))
        return prepared

    def _write(self, prepared: list, source: AddSource | None) -> int:
        ready = self._ready()
        added = 0
        for buffer, (columns, priorities) in prepared:
            buffer.write(columns, priorities)
            added += len(priorities)
        if source is not None:
            self.ledger.record(source, added)
        self.counters["add_calls"] += 1
        self.counters["added"] += added
        self.limiter.record_insert(added, ready)
        return added

    # ---- state and snapshots ---------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The whole shard: buffers, counters, rate limiter and sampling RNG."""
        self._wait_restored()
        with self._lock:
            return self._state()

    def _state(self) -> dict[str, Any]:
        return {
            "shard_index": self.shard_index,
            "capacity": self.capacity,
            "buffers": {m: b.get_state() for m, b in self.buffers.items()},
            "counters": dict(self.counters),
            "limiter": self.limiter.get_state(),
            "rng": self.rng.bit_generator.state,
            "writers": self.ledger.get_state(),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a state from get_state (same capacity per shard)."""
        self._wait_restored()
        with self._lock:
            self._set_state(state)

    def _set_state(self, state: Mapping[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ReplayError(
                f"replay state was saved with {state['capacity']} transitions per module in this"
                f" shard, config gives {self.capacity}; restore with the same replay.capacity and"
                " replay.num_shards"
            )
        self._reset()
        for module_id, buffer_state in state["buffers"].items():
            self._buffer(module_id).set_state(buffer_state)
        self.counters.update(state["counters"])
        self.limiter.set_state(state["limiter"])
        self.rng.bit_generator.state = state["rng"]
        self.ledger.set_state(state.get("writers", {}))  # snapshots from before the ledger

    def snapshot(self, path: str | Path | None = None) -> str:
        """Write the shard to `path`, or as the next numbered snapshot in snapshot_dir."""
        self._wait_restored()
        with self._lock:
            if path is not None:
                return str(write_snapshot(path, self._state()))
            if self._store is None:
                raise ReplayError("no snapshot path: pass one or set replay.snapshot_dir")
            self._wait_for_writing()
            return str(self._take_snapshot())

    def restore(self, path: str | Path) -> None:
        """Load a snapshot file, or a snapshot dir (latest snapshot plus its log)."""
        self._wait_restored()
        with self._lock:
            path = Path(path)
            if path.is_dir():
                shard_dir = path / f"shard-{self.shard_index:03d}"
                source = SnapshotStore(shard_dir if shard_dir.is_dir() else path, durable=False)
                self._load(source.latest_state(), source.logged_adds())
            else:
                self._set_state(read_snapshot(path))
            if self._store is not None:  # our own snapshot + log now describe this state
                self._wait_for_writing()
                self._take_snapshot()

    def _load(self, state: dict | None, adds: Iterable) -> int:
        """A snapshot's state (None: empty) and the adds logged after it; returns the adds
        replayed. A logged add already in the state (a retry logged twice) applies once."""
        if state is None:
            self._reset()
        else:
            self._set_state(state)
        return sum(self._apply_once(batches, add_source) > 0 for batches, add_source in adds)

    def _apply_once(self, batches: ModuleBatches, source: AddSource | None) -> int:
        """Write a logged or queued add unless it was applied already (a retry: counted)."""
        if self._is_retry(source):
            return 0
        return self._write(self._prepare(batches), source)

    def _is_retry(self, source: AddSource | None) -> bool:
        """Whether an add from `source` was applied already; such a retry is counted."""
        if source is None or not self.ledger.is_applied(source):
            return False
        self.counters["duplicate_adds"] += 1
        return True

    def _recover(self, background: bool) -> None:
        """On start: resume from our snapshot dir (on_corrupt decides what damage does). In the
        `background`, adds are logged and acknowledged from now on and applied after it."""
        start = time.monotonic()
        logged = self._store.logged_adds()  # the logs before ours, which starts now
        self._store.start_log()
        if not background:
            self._restore(self._store.latest_state, logged, start)
            return
        self._pending = []
        read = self._store.latest_state
        self._restoring = self._writer.submit(self._restore, read, logged, start)

    def _restore(self, read_state: Callable, logged: Iterable, start: float) -> None:
        """Read the snapshot and logs (outside the lock when in the background), load them, then
        the adds acknowledged meanwhile."""
        try:
            state, adds = read_state(), list(logged)
            damaged = None
        except SnapshotError as err:
            if self.config.on_corrupt == "error":
                raise
            state, adds, damaged = None, [], err
        with self._lock:
            replayed = self._load(state, adds)
            pending, self._pending = self._pending or [], None
            for batches, source in pending:
                self._apply_once(batches, source)
            if damaged is not None:  # an empty snapshot supersedes the damaged files
                logger.warning("replay shard %d: %s; starting empty", self.shard_index, damaged)
                self._take_snapshot()
            # How long a restarted shard took to come back, and why (the recovery bench reads it).
            self.restored = {
                "restore_s": time.monotonic() - start,
                "replayed_adds": replayed,
                "restored_at": time.time(),
            }
            self._lock.notify_all()

    def _add_while_restoring(self, batches: ModuleBatches, source: AddSource | None) -> int:
        """Check, log (so acknowledged) and queue an add until the restore has run."""
        if self._restoring.done():
            self._restoring.result()  # a failed restore raises here
        _check_priorities(batches)
        self._store.append(batches, source)
        self._pending.append((batches, source))
        return sum(len(batch[C.TD_ABS]) for batch in batches.values())

    def _wait_restored(self) -> None:
        if self._restoring is not None:
            self._restoring.result()  # raises what the restore raised, in every call after it

    def _take_snapshot(self) -> Path:
        path = self._store.take(self._state())
        self._last_snapshot = time.monotonic()
        return path

    def _maybe_snapshot(self) -> None:
        """Begin a periodic snapshot when one is due and none is being written; only the state
        copy holds the lock, the writing runs on the snapshot thread."""
        every = self.config.snapshot_every_s
        if self._store is None or every is None or time.monotonic() - self._last_snapshot < every:
            return
        if self._writing is not None and not self._writing.done():
            return
        if self._writing is not None:
            self._writing.result()  # a failed write raises here, in a call, not silently
        self._writing = self._writer.submit(self._store.finish, self._store.begin(self._state()))
        self._last_snapshot = time.monotonic()

    def _wait_for_writing(self) -> None:
        if self._writing is not None:
            self._writing.result()
            self._writing = None

    def close(self) -> None:
        """Finish a snapshot being written and close the durable log (the shard can still be
        snapshotted)."""
        self._wait_restored()
        with self._lock:
            if self._store is not None:
                self._wait_for_writing()
                self._store.close()


def _check_priorities(batches: ModuleBatches) -> None:
    """Every module's batch carries what its priorities are computed from."""
    for module_id, batch in batches.items():
        if C.TD_ABS not in batch or C.ATTENTION not in batch:
            raise ReplayError(
                f"replay batch for module '{module_id}' lacks '{C.TD_ABS}' or"
                f" '{C.ATTENTION}'; send both with every batch (zeros when unknown)"
            )
