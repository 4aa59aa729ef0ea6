"""SnapshotStore: one shard's directory of numbered snapshots and the durable log after each.

    snapshot-000007.arrow   the whole shard state when snapshot 7 was taken
    log-000007.arrows       every add acknowledged after snapshot 7 (when durable)

Taking snapshot k + 1 writes it atomically, starts log k + 1 and only then deletes older files,
so a crash at any point leaves a snapshot and a log that together hold every acknowledged add.
"""

import re
from collections.abc import Iterator
from pathlib import Path

from replay.durable_log import Batches, DurableLog, read_log
from replay.snapshot import read_snapshot, write_snapshot

_NUMBERED = re.compile(r"^(snapshot|log)-(\d{6})\.arrows?(\.tmp)?$")


class SnapshotStore:
    """Numbered snapshots and logs of one shard in `directory`."""

    def __init__(self, directory: str | Path, durable: bool):
        self.directory = Path(directory)
        self.durable = durable
        self.sequence = max(self._numbers("snapshot"), default=0)
        self.log: DurableLog | None = None

    def _numbers(self, kind: str) -> list[int]:
        if not self.directory.is_dir():
            return []
        found = (_NUMBERED.match(p.name) for p in self.directory.iterdir())
        return [int(m[2]) for m in found if m and m[1] == kind and not m[3]]

    def snapshot_path(self, sequence: int) -> Path:
        """Where snapshot `sequence` lives."""
        return self.directory / f"snapshot-{sequence:06d}.arrow"

    def log_path(self, sequence: int) -> Path:
        """Where the log after snapshot `sequence` lives (0: before any snapshot)."""
        return self.directory / f"log-{sequence:06d}.arrows"

    def latest_state(self) -> dict | None:
        """The newest snapshot's state, or None before the first snapshot."""
        return read_snapshot(self.snapshot_path(self.sequence)) if self.sequence else None

    def logged_adds(self) -> Iterator[Batches]:
        """Adds acknowledged after the newest snapshot, oldest first."""
        path = self.log_path(self.sequence)
        if path.is_file():
            yield from read_log(path)

    def start_log(self) -> None:
        """Start logging adds after the newest snapshot (its log must hold nothing yet)."""
        if self.durable:
            self.log = DurableLog(self.log_path(self.sequence))

    def append(self, batches: Batches) -> None:
        """Log one add before it is acknowledged (no-op unless durable)."""
        if self.log is not None:
            self.log.append(batches)

    def take(self, state: dict) -> Path:
        """Write the next snapshot, switch to its log, delete what it supersedes."""
        path = write_snapshot(self.snapshot_path(self.sequence + 1), state)
        self.sequence += 1
        self.close()
        self.start_log()
        for p in self.directory.iterdir():
            m = _NUMBERED.match(p.name)
            if m and (int(m[2]) < self.sequence or m[3]):  # older, or left by a crash mid-write
                p.unlink()
        return path

    def close(self) -> None:
        """Close the log."""
        if self.log is not None:
            self.log.close()
            self.log = None
