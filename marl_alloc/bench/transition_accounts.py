"""What a recovery lost or duplicated, from each writer's acknowledged adds and the shards' ledgers.

Every env actor process is one writer that numbers its adds and sends one at a time
(actors.env_actor.RemoteShardSink). After a drain every live writer has its adds acknowledged,
and `acknowledged` holds the rows through its last acknowledged add. Each shard's WriterLedger
holds, per writer, the last add it applied, the writer's rows through that add, and the rows it
applied. So, per writer:
    lost       = acknowledged rows it never applied: max(0, acknowledged - last total)
                 plus the gaps before its last add: max(0, last total - rows applied)
    duplicated = rows applied more than once:        max(0, rows applied - last total)
(a loss and a duplicate in the same writer would offset each other; the shard's duplicate_adds
counter shows the retries it recognised and skipped).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A shard's WriterLedger state: writer -> [last seq applied, its total, rows applied].
Ledger = Mapping[str, list[int]]


@dataclass(frozen=True)
class Accounts:
    """Transitions acknowledged to writers, lost by the shards and duplicated in them."""

    acknowledged: int
    lost: int
    duplicated: int

    def __sub__(self, earlier: "Accounts") -> "Accounts":
        return Accounts(
            self.acknowledged - earlier.acknowledged,
            self.lost - earlier.lost,
            self.duplicated - earlier.duplicated,
        )


def settle(acknowledged: Mapping[str, int], ledgers: Iterable[Ledger]) -> Accounts:
    """The accounts of writers whose rows through their last acknowledged add are
    `acknowledged`, against the shards' `ledgers`."""
    applied: dict[str, list[int]] = {}
    for ledger in ledgers:
        applied.update(ledger)
    lost = duplicated = 0
    for writer in set(acknowledged) | set(applied):
        _, total, rows = applied.get(writer, (0, 0, 0))
        lost += max(0, acknowledged.get(writer, 0) - total) + max(0, total - rows)
        duplicated += max(0, rows - total)
    return Accounts(sum(acknowledged.values()), lost, duplicated)
