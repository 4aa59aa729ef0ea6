"""SnapshotStore: one shard's directory of numbered snapshots and the durable logs after them.

    snapshot-000007.arrow      the whole shard state when snapshot 7 was taken
    log-000007-000.arrows      every add acknowledged after that state was copied (when durable)
    log-000007-001.arrows      ... continued after a restart (a stream cannot be reopened)

Taking snapshot k + 1 has two steps: `begin` (under the shard's lock: the state copy is taken and
log k + 1 started) and `finish` (outside it, even on another thread: the snapshot written
atomically, then the files it supersedes deleted). Recovery loads the newest complete snapshot
and replays every log numbered from it on, in order; so a crash at any point loses no
acknowledged add, and a restarted shard answers without writing a snapshot first.
"""

import re
from collections.abc import Iterator
from pathlib import Path

from replay.durable_log import Batches, DurableLog, read_log
from replay.snapshot import read_snapshot, write_snapshot
from replay.writer_ledger import AddSource

_NUMBERED = re.compile(r"^(snapshot|log)-(\d{6})(?:-(\d{3}))?\.arrows?(\.tmp)?$")

# A snapshot begun (number, state copy) and not yet written.
PendingSnapshot = tuple[int, dict]


class SnapshotStore:
    """Numbered snapshots and logs of one shard in `directory`; `compress` the snapshot files
    (off when the rows in them are compressed already)."""

    def __init__(self, directory: str | Path, durable: bool, compress: bool = True):
        self.directory = Path(directory)
        self.durable = durable
        self.compress = compress
        self.snapshot_number = max(self._numbers("snapshot"), default=0)
        # Logs after a snapshot whose writing a crash cut short carry the higher number.
        self.sequence = max([self.snapshot_number, *self._numbers("log")])
        self.log: DurableLog | None = None

    def _files(self) -> Iterator[tuple[Path, str, int, int, bool]]:
        """(path, kind, number, part, temporary) of each numbered file."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.iterdir()):
            m = _NUMBERED.match(path.name)
            if m:
                yield path, m[1], int(m[2]), int(m[3] or 0), bool(m[4])

    def _numbers(self, kind: str) -> list[int]:
        return [n for _, k, n, _, tmp in self._files() if k == kind and not tmp]

    def snapshot_path(self, sequence: int) -> Path:
        """Where snapshot `sequence` lives."""
        return self.directory / f"snapshot-{sequence:06d}.arrow"

    def log_path(self, sequence: int, part: int) -> Path:
        """Where part `part` of the log after snapshot `sequence` lives (0: before any)."""
        return self.directory / f"log-{sequence:06d}-{part:03d}.arrows"

    def latest_state(self) -> dict | None:
        """The newest complete snapshot's state, or None before the first snapshot."""
        if not self.snapshot_number:
            return None
        return read_snapshot(self.snapshot_path(self.snapshot_number))

    def logged_adds(self) -> Iterator[tuple[Batches, AddSource | None]]:
        """Adds acknowledged after the newest complete snapshot with their sources, in order:
        from the logs there are now (a log started later, by this process, is not among them)."""
        logs = sorted(
            (number, part, path)
            for path, kind, number, part, tmp in self._files()
            if kind == "log" and not tmp and number >= self.snapshot_number
        )
        return (add for _, _, path in logs for add in read_log(path))

    def start_log(self) -> None:
        """Log the adds from now on, in a new part of the newest log (when durable)."""
        if self.durable:
            parts = [p for _, k, n, p, _ in self._files() if k == "log" and n == self.sequence]
            self.log = DurableLog(self.log_path(self.sequence, max(parts, default=-1) + 1))

    def append(self, batches: Batches, source: AddSource | None = None) -> None:
        """Log one add before it is acknowledged (no-op unless durable)."""
        if self.log is not None:
            self.log.append(batches, source)

    def begin(self, state: dict) -> PendingSnapshot:
        """Number the next snapshot for `state` (a copy, taken under the shard's lock) and log
        the adds after it in its own log."""
        self.sequence += 1
        self.close()
        self.start_log()
        return self.sequence, state

    def finish(self, pending: PendingSnapshot) -> Path:
        """Write a begun snapshot, then delete the snapshots and logs it supersedes."""
        sequence, state = pending
        path = write_snapshot(self.snapshot_path(sequence), state, compress=self.compress)
        self.snapshot_number = max(self.snapshot_number, sequence)
        for old, _, number, _, temporary in self._files():
            # Older files, or a temporary one a crash mid-write left behind.
            if number < sequence or (temporary and number == sequence):
                old.unlink(missing_ok=True)
        return path

    def take(self, state: dict) -> Path:
        """Begin and finish a snapshot of `state` at once."""
        return self.finish(self.begin(state))

    def close(self) -> None:
        """Close the log."""
        if self.log is not None:
            self.log.close()
            self.log = None
