"""WriterLedger: which adds a shard has applied, per writer, so that a retried add applies once.

Each writer (one env actor process) numbers its adds 1, 2, 3, ... and has one in flight at a
time; with each add it sends `total`, the rows it has sent so far, this add's included. When a
shard dies, Ray resubmits the calls in flight to its restart, whose durable log may already hold
them: an add numbered at or below the writer's last applied one is such a retry and is skipped.
While every add applies exactly once a writer's rows applied equal its last total; more means an
add applied twice, fewer that one was lost (what the recovery bench counts).
"""

from collections.abc import Mapping
from typing import NamedTuple


class AddSource(NamedTuple):
    """Who sent an add: the writer, the add's number and the writer's rows through it."""

    writer: str
    seq: int
    total: int


class WriterLedger:
    """Per writer: [last seq applied, its total, rows applied]."""

    def __init__(self):
        self.writers: dict[str, list[int]] = {}

    def is_applied(self, source: AddSource) -> bool:
        """True if this add (or a later one of its writer) has been applied: a retry."""
        entry = self.writers.get(source.writer)
        return entry is not None and source.seq <= entry[0]

    def record(self, source: AddSource, rows: int) -> None:
        """Note an applied add of `rows` rows."""
        entry = self.writers.setdefault(source.writer, [0, 0, 0])
        entry[0], entry[1] = source.seq, source.total
        entry[2] += rows

    def get_state(self) -> dict[str, list[int]]:
        """A JSON-ready copy."""
        return {writer: list(entry) for writer, entry in self.writers.items()}

    def set_state(self, state: Mapping[str, list[int]]) -> None:
        """Load a get_state copy."""
        self.writers = {str(w): [int(v) for v in entry] for w, entry in state.items()}
