"""DurableLog: every added batch appended to a log file before the add is acknowledged.

A shard killed after acknowledging an add loses nothing: on restart it loads its last snapshot
and replays the log written since. Each record keeps the add's source (writer, number), so the
replayed adds count in the shard's WriterLedger and their retries are recognised.

Each record is a header (magic, payload length, payload crc32, header crc32) and a payload (one
Arrow IPC record batch of the add's arrays, zstd, the batches' layout in its metadata). So a
record the kill tore (a short header, or a payload shorter than its header says) is told apart
from damage: the torn last record was never acknowledged and is dropped; any other damage is
corruption (SnapshotError), never read as the end of the log.
"""

import json
import logging
import struct
import zlib
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
MAGIC = b"MRL1"
HEADER = struct.Struct("<4sQI")  # magic, payload length, payload crc32; then the header's crc32
CHECK = struct.Struct("<I")
RECORD_START = HEADER.size + CHECK.size


class DurableLog:
    """Appends one record per add call to a new file at `path`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 - kept open while the log is current

    def append(self, batches: Batches, source: AddSource | None = None) -> None:
        """Write and flush to the OS, so the record survives the process being killed."""
        arrays: list[np.ndarray] = []
        metadata = {"batches": json.dumps(split_arrays(batches, arrays))}
        if source is not None:
            metadata["source"] = json.dumps(list(source))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, ARRAY_SCHEMA, options=IPC_OPTIONS) as writer:
            writer.write_batch(arrays_to_batch(arrays), custom_metadata=metadata)
        payload = sink.getvalue().to_pybytes()
        header = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload))
        self._file.write(header + CHECK.pack(zlib.crc32(header)) + payload)
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_log(path: str | Path) -> Iterator[tuple[Batches, AddSource | None]]:
    """The add calls recorded in `path` with their sources, oldest first; a torn last record is
    skipped, any other damage is a SnapshotError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SnapshotError(f"cannot read replay log {path}: {err.strerror}") from None
    at = 0
    while at < len(data):
        if len(data) - at < RECORD_START:
            return _torn(path, len(data) - at)
        header = data[at : at + HEADER.size]
        (check,) = CHECK.unpack_from(data, at + HEADER.size)
        magic, length, crc = HEADER.unpack(header)
        if magic != MAGIC or zlib.crc32(header) != check:
            raise _corrupt(path, f"bad record header at byte {at}")
        payload = data[at + RECORD_START : at + RECORD_START + length]
        if len(payload) < length:
            return _torn(path, len(data) - at)
        if zlib.crc32(payload) != crc:
            raise _corrupt(path, f"checksum mismatch in the record at byte {at}")
        yield _decode(payload, path)
        at += RECORD_START + length


def _decode(payload: bytes, path: Path) -> tuple[Batches, AddSource | None]:
    """One record's batches and source (the checksum passed: a failure here is a bug's data)."""
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(payload))
        batch, metadata = reader.read_next_batch_with_custom_metadata()
        arrays = batch_to_arrays(batch, f"replay log {path}")
        sender = metadata.get(b"source")
        return (
            join_arrays(json.loads(metadata[b"batches"]), arrays),
            None if sender is None else AddSource(*json.loads(sender)),
        )
    except SnapshotError:
        raise
    except (pa.ArrowException, ValueError, KeyError, TypeError, IndexError) as err:
        raise _corrupt(path, type(err).__name__) from None


def _torn(path: Path, size: int) -> None:
    # Only the last record can be torn by a kill, and it was never acknowledged.
    logger.warning("replay: dropping an unfinished %d-byte record at the end of %s", size, path)


def _corrupt(path: Path, what: str) -> SnapshotError:
    return SnapshotError(
        f"replay log {path} is corrupt ({what}); delete it or set replay.on_corrupt=empty"
    )
