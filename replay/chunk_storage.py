"""ChunkStorage: columns kept as zstd frames of `chunk_size` ring slots, decoded only when sampled.

Rows of all its columns are packed side by side as bytes, so one frame per chunk holds every
column (OBS and NEXT_OBS together: half the frames to decode per sample). The chunk being filled
stays raw until full; a chunk the ring comes back to is decoded once and refilled. A small LRU
cache keeps recently decoded chunks. Chunks zstd cannot shrink enough stay raw in a row arena
that the OS only backs with memory where such chunks are written.
"""

from collections.abc import Mapping
from operator import itemgetter

import numpy as np

from replay.chunk_cache import DecodedChunkCache
from replay.codec import ZstdCodec
from replay.ring_storage import ColumnsSpec


class ChunkStorage:
    """Compressed columns over `capacity` ring slots in chunks of `chunk_size` rows."""

    def __init__(
        self,
        capacity: int,
        spec: ColumnsSpec,
        codec: ZstdCodec,
        chunk_size: int,
        cache_chunks: int = 0,
        dict_train_chunks: int = 64,
    ):
        self.capacity = int(capacity)
        self.spec = dict(spec)
        self.codec = codec
        self.chunk_size = int(chunk_size)
        self.num_chunks = -(-self.capacity // self.chunk_size)
        self.dict_train_chunks = min(int(dict_train_chunks), self.num_chunks)
        self._layout = []  # (name, first byte, nbytes, row shape, dtype) per column
        offset = 0
        for name, (shape, dtype) in self.spec.items():
            nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            self._layout.append((name, offset, nbytes, shape, np.dtype(dtype)))
            offset += nbytes
        self.row_bytes = offset
        self.chunk_bytes = self.row_bytes * self.chunk_size
        self._full_chunks = self.capacity // self.chunk_size  # the last one may be shorter
        self.frames: list[bytes | None] = [None] * self.num_chunks
        self.frame_lengths = np.zeros(self.num_chunks, np.int64)
        self.is_raw = np.zeros(self.num_chunks, bool)
        # np.zeros maps untouched pages lazily: compressible data never costs this memory.
        self._raw_rows = np.zeros((self.num_chunks * self.chunk_size, self.row_bytes), np.uint8)
        self._sealed = 0  # zstd chunks closed so far, to know when to train the dictionary
        self._open_chunk = -1
        self._open = np.zeros((self.chunk_size, self.row_bytes), np.uint8)
        self._cache = DecodedChunkCache(self.num_chunks, int(cache_chunks), self._open.shape)

    def write(self, start: int, batch: Mapping[str, np.ndarray]) -> None:
        """Write rows to slots start, start + 1, ... (mod capacity), sealing chunks as they fill."""
        rows = self._pack(batch)
        done, slot = 0, start
        while done < len(rows):  # a few passes: partial head, whole chunks, partial tail, wrap
            chunk, within = divmod(slot, self.chunk_size)
            whole = min((len(rows) - done) // self.chunk_size, self._full_chunks - chunk)
            if within == 0 and whole > 0:
                take = whole * self.chunk_size
                self._close(chunk, rows[done : done + take])
            else:
                chunk_rows = min(self.chunk_size, self.capacity - chunk * self.chunk_size)
                take = min(len(rows) - done, chunk_rows - within)
                if chunk != self._open_chunk:
                    self._open_at(chunk, keep_old=take < chunk_rows)
                self._open[within : within + take] = rows[done : done + take]
                if within + take == chunk_rows:
                    self._open_chunk = -1
                    self._close(chunk, self._open)
            done += take
            slot = (slot + take) % self.capacity

    def read(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of the rows at `slots`, decoding each needed zstd chunk at most once."""
        slots = np.asarray(slots, np.int64)
        chunks, within = np.divmod(slots, self.chunk_size)
        packed = np.empty((len(slots), self.row_bytes), np.uint8)
        in_open = chunks == self._open_chunk
        packed[in_open] = self._open[within[in_open]]
        raw = self.is_raw[chunks] & ~in_open
        packed[raw] = self._raw_rows[slots[raw]]
        coded = ~(in_open | raw)
        needed = np.unique(chunks[coded])
        cached = self._cache.lookup(needed)
        missing = needed[cached < 0]
        decoded = self.codec.decode(self._frames_of(missing), self.chunk_bytes)
        decoded = decoded.reshape(len(missing), self.chunk_size, self.row_bytes)
        hit = coded & (self._cache.slot_of[chunks] >= 0)
        packed[hit] = self._cache.arena[self._cache.slot_of[chunks[hit]], within[hit]]
        miss = coded & ~hit
        packed[miss] = decoded[np.searchsorted(missing, chunks[miss]), within[miss]]
        self._cache.insert(missing, decoded)
        return self._unpack(packed)

    def stored_bytes(self) -> int:
        """Bytes held: zstd frames, raw chunks and the chunk being filled."""
        open_bytes = self._open.nbytes if self._open_chunk >= 0 else 0
        return (
            int(self.frame_lengths.sum()) + int(self.is_raw.sum()) * self.chunk_bytes + open_bytes
        )

    def _pack(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(batch.values())))
        return np.concatenate(
            [batch[name].reshape(n, -1).view(np.uint8) for name, *_ in self._layout], axis=1
        )

    def _unpack(self, packed: np.ndarray) -> dict[str, np.ndarray]:
        n = len(packed)
        return {
            name: np.ascontiguousarray(packed[:, start : start + nbytes])
            .view(dtype)
            .reshape(n, *shape)
            for name, start, nbytes, shape, dtype in self._layout
        }

    def _frames_of(self, chunks: np.ndarray) -> list[bytes]:
        if len(chunks) == 0:
            return []
        got = itemgetter(*chunks.tolist())(self.frames)  # one C call, no Python loop
        return list(got) if len(chunks) > 1 else [got]

    def _rows_of(self, first: int, count: int) -> np.ndarray:
        """The raw-arena rows of chunks first .. first + count - 1, shaped (count, rows, bytes)."""
        rows = self._raw_rows[first * self.chunk_size : (first + count) * self.chunk_size]
        return rows.reshape(count, self.chunk_size, self.row_bytes)

    def _close(self, first: int, rows: np.ndarray) -> None:
        """Encode whole chunks first, first + 1, ... from `rows` (chunk_size rows each)."""
        chunk_data = rows.reshape(-1, self.chunk_bytes)
        frames = self.codec.encode(chunk_data)
        self._store(first, frames, chunk_data)
        self._sealed += len(frames) - frames.count(None)  # zstd chunks: a dictionary's samples
        if self.codec.wants_dictionary and self._sealed >= self.dict_train_chunks:
            self._recompress_with_dictionary()

    def _store(self, first: int, frames: list[bytes | None], chunk_data: np.ndarray) -> None:
        """Keep frames of chunks first, ...; a None frame means keep that chunk's rows raw."""
        count = len(frames)
        last = first + count
        as_array = np.array(frames, dtype=object)
        raw = np.equal(as_array, None)
        self._rows_of(first, count)[raw] = chunk_data[raw].reshape(-1, *self._open.shape)
        self.is_raw[first:last] = raw
        self.frame_lengths[first:last] = 0
        self.frame_lengths[first:last][~raw] = np.fromiter(map(len, as_array[~raw]), np.int64)
        self.frames[first:last] = frames
        self._cache.forget(np.arange(first, last))

    def _open_at(self, chunk: int, keep_old: bool) -> None:
        """Make `chunk` the raw chunk being filled; rows not yet overwritten keep their data."""
        # Writes run in ring order and close each chunk as it fills, so no other chunk is open.
        if keep_old and self.is_raw[chunk]:
            self._open[:] = self._rows_of(chunk, 1)[0]
        elif keep_old and self.frames[chunk] is not None:
            decoded = self.codec.decode([self.frames[chunk]], self.chunk_bytes)
            self._open[:] = decoded.reshape(self._open.shape)
        else:
            self._open[:] = 0  # nothing to keep (zero padding compresses to nothing)
        self.frames[chunk] = None  # held by the open chunk now
        self.frame_lengths[chunk] = 0
        self.is_raw[chunk] = False
        self._cache.forget(np.array([chunk]))
        self._open_chunk = chunk

    def _recompress_with_dictionary(self) -> None:
        """Train once on the zstd chunks so far, then encode them again with the dictionary."""
        coded = np.flatnonzero(self.frame_lengths)
        chunk_data = self.codec.decode(self._frames_of(coded), self.chunk_bytes)
        if not self.codec.train_dictionary(chunk_data):
            return
        for chunk, frame, data in zip(  # once per buffer life
            coded.tolist(), self.codec.encode(chunk_data), chunk_data, strict=True
        ):
            self._store(chunk, [frame], data[None])

    def get_state(self) -> dict:
        """Frames (concatenated, with lengths), raw chunks, the open chunk, the dictionary."""
        raw_chunks = np.flatnonzero(self.is_raw)
        return {
            "frames": np.frombuffer(b"".join(f for f in self.frames if f is not None), np.uint8),
            "frame_lengths": self.frame_lengths.copy(),
            "raw_chunks": raw_chunks,
            "raw_rows": self._raw_rows.reshape(self.num_chunks, *self._open.shape)[raw_chunks],
            "open_chunk": self._open_chunk,
            "open_rows": self._open.copy(),
            "sealed": self._sealed,
            "codec": self.codec.get_state(),
        }

    def set_state(self, state: dict) -> None:
        """Load what get_state saved."""
        self.codec.set_state(state["codec"])
        data = np.asarray(state["frames"], np.uint8).tobytes()
        lengths = np.asarray(state["frame_lengths"], np.int64)
        ends = np.cumsum(lengths).tolist()
        self.frames = [  # once per restore
            data[end - length : end] if length else None
            for end, length in zip(ends, lengths.tolist(), strict=True)
        ]
        self.frame_lengths = lengths.copy()
        raw_chunks = np.asarray(state["raw_chunks"], np.int64)
        self.is_raw[:] = False
        self.is_raw[raw_chunks] = True
        self._raw_rows.reshape(self.num_chunks, *self._open.shape)[raw_chunks] = state["raw_rows"]
        self._open_chunk = int(state["open_chunk"])
        self._open[:] = state["open_rows"]
        self._sealed = int(state["sealed"])
        self._cache.clear()
