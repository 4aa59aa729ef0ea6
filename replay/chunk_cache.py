"""DecodedChunkCache: an LRU set of decoded chunks in one arena, looked up by chunk id in numpy."""

import numpy as np


class DecodedChunkCache:
    """Holds up to `size` decoded chunks; hits and evictions are vector ops, not dict lookups."""

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
