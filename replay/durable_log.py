"""DurableLog: every added batch appended to an Arrow IPC stream before the add is acknowledged.

A shard killed after acknowledging an add loses nothing: on restart it loads its last snapshot
and replays the log written since. Each batch keeps the add's source (writer, number), so the
replayed adds count in the shard's WriterLedger and their retries are recognised. A batch torn
by the kill itself was never acknowledged and is dropped; a damaged batch before the end is
corruption (SnapshotError).
"""

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from replay.errors import SnapshotError
from replay.snapshot import (
    ARRAY_SCHEMA,
    IPC_OPTIONS,
    arrays_to_batch,
    batch_to_arrays,
    join_arrays,
    split_arrays,
)
from replay.writer_ledger import AddSource

logger = logging.getLogger(__name__)

Batches = dict[str, dict[str, np.ndarray]]


class DurableLog:
    """Writes one record batch per add call to a new stream file at `path`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, ARRAY_SCHEMA, options=IPC_OPTIONS)
        self._sink.flush()

    def append(self, batches: Batches, source: AddSource | None = None) -> None:
        """Write and flush to the OS, so the batch survives the process being killed."""
        arrays: list[np.ndarray] = []
        metadata = {"batches": json.dumps(split_arrays(batches, arrays))}
        if source is not None:
            metadata["source"] = json.dumps(list(source))
        self._writer.write_batch(arrays_to_batch(arrays), custom_metadata=metadata)
        self._sink.flush()

    def close(self) -> None:
        """Finish the stream."""
        self._writer.close()
        self._sink.close()


def read_log(path: str | Path) -> Iterator[tuple[Batches, AddSource | None]]:
    """The add calls recorded in `path` with their sources, oldest first; a torn last batch is
    skipped."""
    path = Path(path)
    with pa.memory_map(str(path), "r") as source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowException, OSError) as err:
            if source.size() < 64:  # killed before the stream header was out: nothing was acked
                return
            raise SnapshotError(
                f"replay log {path} is corrupt ({err}); delete it or set replay.on_corrupt=empty"
            ) from None
        while True:
            good_end = source.tell()
            try:
                batch, metadata = reader.read_next_batch_with_custom_metadata()
            except StopIteration:
                return
            except (pa.ArrowException, OSError):
                # Only the last message can be torn by a kill, and it was never acknowledged.
                torn = source.size() - good_end
                logger.warning(
                    "replay: dropping an unfinished %d-byte batch at the end of %s", torn, path
                )
                return
            arrays = batch_to_arrays(batch, f"replay log {path}")
            sender = metadata.get(b"source")
            yield (
                join_arrays(json.loads(metadata[b"batches"]), arrays),
                None if sender is None else AddSource(*json.loads(sender)),
            )
