"""ChunkStorage: columns kept as zstd frames of `chunk_size` ring slots, decoded only when sampled.

Rows of all its columns are packed side by side as bytes, so one frame per chunk holds every
column (OBS and NEXT_OBS together: half the frames to decode per sample). The chunk being filled
stays raw until full; a chunk the ring comes back to is decoded once and refilled. A small LRU
cache keeps recently decoded chunks.
"""

from collections.abc import Mapping
from operator import itemgetter

import numpy as np

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
        self.compressed_bytes = 0
        self._sealed = 0  # chunks compressed so far, to know when to train the dictionary
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
                self._put_whole(chunk, rows[done : done + whole * self.chunk_size])
                take = whole * self.chunk_size
            else:
                chunk_rows = min(self.chunk_size, self.capacity - chunk * self.chunk_size)
                take = min(len(rows) - done, chunk_rows - within)
                if chunk != self._open_chunk:
                    self._open_at(chunk, keep_old=take < chunk_rows)
                self._open[within : within + take] = rows[done : done + take]
                if within + take == chunk_rows:
                    self._seal()
            done += take
            slot = (slot + take) % self.capacity

    def read(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of the rows at `slots`, decoding each needed chunk at most once."""
        slots = np.asarray(slots, np.int64)
        chunks, within = np.divmod(slots, self.chunk_size)
        packed = np.empty((len(slots), self.row_bytes), np.uint8)
        in_open = chunks == self._open_chunk
        packed[in_open] = self._open[within[in_open]]
        closed = ~in_open
        needed = np.unique(chunks[closed])
        cached = self._cache.lookup(needed)
        missing = needed[cached < 0]
        decoded = self.codec.decompress(self._frames_of(missing), self.chunk_bytes)
        decoded = decoded.reshape(len(missing), self.chunk_size, self.row_bytes)
        hit = closed & (self._cache.slot_of[chunks] >= 0)
        packed[hit] = self._cache.arena[self._cache.slot_of[chunks[hit]], within[hit]]
        miss = closed & ~hit
        packed[miss] = decoded[np.searchsorted(missing, chunks[miss]), within[miss]]
        self._cache.insert(missing, decoded)
        return self._unpack(packed)

    def stored_bytes(self) -> int:
        """Bytes held: compressed frames plus the raw chunk being filled."""
        return self.compressed_bytes + (self._open.nbytes if self._open_chunk >= 0 else 0)

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

    def _set_frames(self, first: int, frames: list[bytes | None]) -> None:
        """Replace the frames of chunks first, first + 1, ... and keep byte counts in step."""
        last = first + len(frames)
        lengths = np.fromiter(map(len, (f or b"" for f in frames)), np.int64, len(frames))
        self.compressed_bytes += int(lengths.sum() - self.frame_lengths[first:last].sum())
        self.frame_lengths[first:last] = lengths
        self.frames[first:last] = frames
        self._cache.forget(np.arange(first, last))

    def _put_whole(self, first: int, rows: np.ndarray) -> None:
        """Compress whole chunks straight from the batch, no copy through the open chunk."""
        self._set_frames(first, self.codec.compress(rows.reshape(-1, self.chunk_bytes)))
        self._after_sealing(len(rows) // self.chunk_size)

    def _open_at(self, chunk: int, keep_old: bool) -> None:
        """Make `chunk` the raw chunk being filled; rows not yet overwritten keep their data."""
        # Writes run in ring order and seal each chunk as it fills, so no other chunk is open.
        frame = self.frames[chunk]
        if frame is not None and keep_old:
            self._open[:] = self.codec.decompress([frame], self.chunk_bytes).reshape(
                self._open.shape
            )
        else:
            self._open[:] = 0  # no old rows to keep (zero padding compresses to nothing)
        self._set_frames(chunk, [None])
        self._open_chunk = chunk

    def _seal(self) -> None:
        """Compress the open chunk."""
        self._set_frames(self._open_chunk, self.codec.compress(self._open.reshape(1, -1)))
        self._open_chunk = -1
        self._after_sealing(1)

    def _after_sealing(self, count: int) -> None:
        """Train the dictionary once enough chunks exist, then recompress those chunks with it."""
        self._sealed += count
        if not (self.codec.wants_dictionary and self._sealed >= self.dict_train_chunks):
            return
        present = np.flatnonzero(self.frame_lengths)
        raw = self.codec.decompress(self._frames_of(present), self.chunk_bytes)
        if self.codec.train_dictionary(raw):
            recompressed = self.codec.compress(raw)
            for chunk, frame in zip(present.tolist(), recompressed, strict=True):  # once per life
                self._set_frames(chunk, [frame])

    def get_state(self) -> dict:
        """Frames (concatenated, with lengths), the raw open chunk and the codec's dictionary."""
        return {
            "frames": np.frombuffer(b"".join(f for f in self.frames if f is not None), np.uint8),
            "frame_lengths": self.frame_lengths.copy(),
            "open_chunk": self._open_chunk,
            "open_rows": self._open.copy(),
            "sealed": self._sealed,
            "codec": self.codec.get_state(),
        }

    def set_state(self, state: dict) -> None:
        """Load frames and the open chunk saved by get_state."""
        self.codec.set_state(state["codec"])
        data = np.asarray(state["frames"], np.uint8).tobytes()
        lengths = np.asarray(state["frame_lengths"], np.int64)
        ends = np.cumsum(lengths).tolist()
        self.frames = [  # once per restore
            data[end - length : end] if length else None
            for end, length in zip(ends, lengths.tolist(), strict=True)
        ]
        self.frame_lengths = lengths.copy()
        self.compressed_bytes = len(data)
        self._open_chunk = int(state["open_chunk"])
        self._open[:] = state["open_rows"]
        self._sealed = int(state["sealed"])
        self._cache.clear()


class DecodedChunkCache:
    """LRU set of decoded chunks in one preallocated arena, indexed by chunk id without loops."""

    def __init__(self, num_chunks: int, size: int, chunk_shape: tuple[int, int]):
        self.arena = np.empty((size, *chunk_shape), np.uint8)
        self.slot_of = np.full(num_chunks, -1, np.int64)
        self._owner = np.full(size, -1, np.int64)
        self._last_used = np.zeros(size, np.int64)
        self._clock = 0

    def lookup(self, chunks: np.ndarray) -> np.ndarray:
        """Arena slot per chunk (-1 when absent); marks hits as just used."""
        slots = self.slot_of[chunks]
        self._clock += 1
        self._last_used[slots[slots >= 0]] = self._clock
        return slots

    def insert(self, chunks: np.ndarray, decoded: np.ndarray) -> None:
        """Cache freshly decoded chunks, evicting the least recently used."""
        count = min(len(chunks), len(self.arena))
        if count == 0:
            return
        victims = np.argpartition(self._last_used, count - 1)[:count]
        evicted = self._owner[victims]
        self.slot_of[evicted[evicted >= 0]] = -1
        self.arena[victims] = decoded[:count]
        self._owner[victims] = chunks[:count]
        self.slot_of[chunks[:count]] = victims
        self._last_used[victims] = self._clock

    def forget(self, chunks: np.ndarray) -> None:
        """Drop these chunks (they are being rewritten)."""
        slots = self.slot_of[chunks]
        slots = slots[slots >= 0]
        self.slot_of[self._owner[slots]] = -1
        self._owner[slots] = -1
        self._last_used[slots] = 0

    def clear(self) -> None:
        """Drop everything."""
        self.slot_of[:] = -1
        self._owner[:] = -1
        self._last_used[:] = 0
