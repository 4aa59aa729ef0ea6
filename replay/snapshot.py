"""Snapshot files: a nested state of numpy arrays and plain values as one Arrow IPC file (zstd).

Each array is a row (dtype, shape, bytes, crc32); the tree around the arrays is JSON in the
schema metadata. The checksums catch flipped bytes that Arrow's own framing would not, and a
temporary file plus rename means a crash mid-write never leaves a half snapshot in place.
"""

import json
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from marl_alloc.floor.errors import first_line
from replay.errors import SnapshotError

FORMAT = "marl_alloc.replay/1"
ARRAY_SCHEMA = pa.schema(
    [
        ("dtype", pa.string()),
        ("shape", pa.list_(pa.int64())),
        ("data", pa.large_binary()),
        ("crc32", pa.uint32()),
    ]
)
IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def split_arrays(tree: Any, arrays: list[np.ndarray]) -> Any:
    """The tree with each numpy array replaced by {"__array__": i}, arrays appended to `arrays`."""
    if isinstance(tree, np.ndarray):
        arrays.append(tree)
        return {"__array__": len(arrays) - 1}
    if isinstance(tree, dict):
        return {str(k): split_arrays(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [split_arrays(v, arrays) for v in tree]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def join_arrays(tree: Any, arrays: list[np.ndarray]) -> Any:
    """Inverse of split_arrays."""
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: join_arrays(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [join_arrays(v, arrays) for v in tree]
    return tree


def arrays_to_batch(arrays: list[np.ndarray]) -> pa.RecordBatch:
    """One row per array: dtype, shape, raw bytes and their crc32."""
    blobs = [np.ascontiguousarray(a).tobytes() for a in arrays]
    return pa.RecordBatch.from_arrays(
        [
            pa.array([a.dtype.str for a in arrays], pa.string()),
            pa.array([list(a.shape) for a in arrays], pa.list_(pa.int64())),
            pa.array(blobs, pa.large_binary()),
            pa.array([zlib.crc32(b) for b in blobs], pa.uint32()),
        ],
        schema=ARRAY_SCHEMA,
    )


def batch_to_arrays(batch: pa.RecordBatch | pa.Table, where: str) -> list[np.ndarray]:
    """Arrays back from arrays_to_batch rows; a checksum mismatch is a SnapshotError."""
    arrays = []
    columns = batch.to_pydict()
    for dtype, shape, blob, crc in zip(*(columns[k] for k in ARRAY_SCHEMA.names), strict=True):
        if zlib.crc32(blob) != crc:
            raise SnapshotError(
                f"{where} is corrupt (checksum mismatch); delete it or set replay.on_corrupt=empty"
            )
        try:
            arrays.append(np.frombuffer(blob, np.dtype(dtype)).reshape(shape))
        except (TypeError, ValueError):  # a damaged dtype or shape
            raise SnapshotError(
                f"{where} is corrupt (array layout); delete it or set replay.on_corrupt=empty"
            ) from None
    return arrays


def layout_check(tree_json: str, batch: pa.RecordBatch | pa.Table) -> str:
    """crc32 of the JSON tree and every array's dtype and shape: what the per-array checksums of
    the bytes leave unchecked."""
    layout = json.dumps([batch.column("dtype").to_pylist(), batch.column("shape").to_pylist()])
    return str(zlib.crc32((tree_json + layout).encode()))


def write_snapshot(path: str | Path, state: dict, compress: bool = True) -> Path:
    """Write `state` atomically to `path`, zstd-compressed unless not `compress` (rows that are
    compressed already only cost CPU twice); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: list[np.ndarray] = []
    tree = json.dumps(split_arrays(state, arrays))
    batch = arrays_to_batch(arrays)
    metadata = {"format": FORMAT, "state": tree, "check": layout_check(tree, batch)}
    schema = ARRAY_SCHEMA.with_metadata(metadata)
    temporary = path.with_name(path.name + ".tmp")
    with (
        pa.OSFile(str(temporary), "wb") as sink,
        pa.ipc.new_file(sink, schema, options=IPC_OPTIONS if compress else None) as writer,
    ):
        writer.write_batch(batch)
    with open(temporary, "rb+") as handle:  # on disk before it replaces the old snapshot
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def read_snapshot(path: str | Path) -> dict:
    """The state written by write_snapshot; any damage is a one-line SnapshotError."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(f"replay snapshot {path} does not exist; pass a snapshot file or dir")
    try:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        # Offsets are not checked on read: damaged ones would read out of bounds (a crash).
        table.validate(full=True)
        metadata = table.schema.metadata or {}
        if metadata.get(b"format") != FORMAT.encode():
            raise SnapshotError(f"{path} is not a marl-alloc replay snapshot")
        tree = metadata[b"state"].decode()
        check = metadata.get(b"check")  # snapshots from before the check have none
        if check is not None and check.decode() != layout_check(tree, table):
            raise SnapshotError(
                f"replay snapshot {path} is corrupt (layout checksum mismatch); delete it or set"
                " replay.on_corrupt=empty"
            )
        arrays = batch_to_arrays(table, f"replay snapshot {path}")
        state = join_arrays(json.loads(tree), arrays)
    except SnapshotError:
        raise
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise SnapshotError(
            f"replay snapshot {path} is corrupt ({first_line(err)}); delete it or set"
            " replay.on_corrupt=empty"
        ) from None
    return state
