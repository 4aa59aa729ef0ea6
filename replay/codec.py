"""ZstdCodec: zstd for many equal-sized chunks of bytes, optionally with a trained dictionary."""

import logging
from collections.abc import Sequence

import numpy as np
import zstandard

logger = logging.getLogger(__name__)


class ZstdCodec:
    """Encode / decode many chunks per call; a dictionary is trained once on early chunks.

    Small chunks make sampling cheap (fewer bytes decoded per sampled row) but compress worse on
    their own; a dictionary trained on the first chunks wins most of that back. Chunks that zstd
    would shrink by less than `min_saving` are left raw: high-entropy data then costs no codec
    time to sample.
    """

    def __init__(self, level: int = 3, dict_bytes: int = 0, min_saving: float = 0.1):
        self.level = int(level)
        self.dict_bytes = int(dict_bytes)
        self.min_saving = float(min_saving)
        self.dictionary: bytes | None = None
        self._compressor = zstandard.ZstdCompressor(level=self.level)
        self._decompressor = zstandard.ZstdDecompressor()

    @property
    def wants_dictionary(self) -> bool:
        """True while a dictionary is configured but not trained yet."""
        return self.dict_bytes > 0 and self.dictionary is None

    def encode(self, chunks: np.ndarray) -> list[bytes | None]:
        """A zstd frame per row of `chunks` (uint8, (k, chunk_bytes)); None: keep it raw.

        The first chunk is tried alone: when it does not compress, neither is the rest tried
        (a batch comes from one module's stream and is alike throughout).
        """
        limit = int(chunks.shape[1] * (1.0 - self.min_saving))
        compress = self._compressor.compress
        if len(compress(chunks[0])) >= limit:
            return [None] * len(chunks)
        frames = np.array(list(map(compress, chunks)), dtype=object)  # C calls, no Python loop
        frames[np.fromiter(map(len, frames), np.int64, len(frames)) >= limit] = None
        return frames.tolist()

    def decode(self, frames: Sequence[bytes], chunk_bytes: int) -> np.ndarray:
        """The chunks behind zstd `frames` as uint8 (len(frames), chunk_bytes), in one C call."""
        if not frames:  # the batched decoder crashes on an empty list
            return np.empty((0, chunk_bytes), np.uint8)
        decoded = self._decompressor.multi_decompress_to_buffer(list(frames))
        return np.frombuffer(b"".join(decoded), np.uint8).reshape(len(frames), chunk_bytes)

    def train_dictionary(self, samples: np.ndarray) -> bool:
        """Train on raw chunks (uint8 rows); False, and no dictionary, when zstd cannot train."""
        try:
            trained = zstandard.train_dictionary(
                self.dict_bytes, [row.tobytes() for row in samples], level=self.level
            )
        except zstandard.ZstdError as err:
            # Too little or too uniform data: plain zstd still works, just without the dictionary.
            logger.warning("replay: zstd dictionary training failed (%s); compressing without", err)
            self.dict_bytes = 0
            return False
        self._use_dictionary(trained.as_bytes())
        return True

    def _use_dictionary(self, dictionary: bytes) -> None:
        self.dictionary = dictionary
        data = zstandard.ZstdCompressionDict(dictionary)
        self._compressor = zstandard.ZstdCompressor(level=self.level, dict_data=data)
        self._decompressor = zstandard.ZstdDecompressor(dict_data=data)

    def get_state(self) -> dict:
        """Settings and the trained dictionary (frames cannot be read without it; empty if none)."""
        dictionary = self.dictionary or b""
        return {
            "level": self.level,
            "dict_bytes": self.dict_bytes,
            "min_saving": self.min_saving,
            "dictionary": np.frombuffer(dictionary, np.uint8).copy(),
        }

    def set_state(self, state: dict) -> None:
        """Restore settings and dictionary."""
        self.level, self.dict_bytes = int(state["level"]), int(state["dict_bytes"])
        self.min_saving = float(state["min_saving"])
        self.dictionary = None
        self._compressor = zstandard.ZstdCompressor(level=self.level)
        self._decompressor = zstandard.ZstdDecompressor()
        if len(state["dictionary"]):
            self._use_dictionary(np.asarray(state["dictionary"], np.uint8).tobytes())
