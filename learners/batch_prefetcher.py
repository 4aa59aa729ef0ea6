"""BatchPrefetcher: the next replay batch is sampled and turned into tensors (pinned for a GPU)
on a background thread while the current one trains.

    for batch in prefetcher.batches(count):      # batch i + 1 is being sampled meanwhile
        parts = batch.to_device(device, count=k)  # one non-blocking copy, k equal slices
"""

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch

from marl_alloc.floor import columns as C

# Ray hands samples over in read-only object-store memory; the update only reads its batch, so
# sharing it is safe and saves a copy per batch. One filter, for this module's tensors only: a
# catch_warnings per tensor would swap the process-wide filters from the prefetch thread.
warnings.filterwarnings(
    "ignore", "The given NumPy array is not writable", UserWarning, module=__name__
)
Tensors = dict[str, dict[str, torch.Tensor]]


class PrefetchedBatch(NamedTuple):
    """One sampled batch: the shard it came from, its replay ids per module (numpy, for the
    priority update) and its columns as host tensors."""

    shard: int
    ids: dict[str, tuple[np.ndarray, np.ndarray]]
    tensors: Tensors

    def to_device(self, device: torch.device, count: int = 1) -> list[Tensors]:
        """The columns on `device` (non-blocking from pinned memory), split into `count` equal
        consecutive slices of every module's rows."""
        moved = {
            module_id: {name: t.to(device, non_blocking=True) for name, t in columns.items()}
            for module_id, columns in self.tensors.items()
        }
        if count == 1:
            return [moved]
        return [
            {
                module_id: {name: t.chunk(count)[i] for name, t in columns.items()}
                for module_id, columns in moved.items()
            }
            for i in range(count)
        ]


def as_tensors(sampled: dict[str, dict[str, Any]], pin_memory: bool) -> PrefetchedBatch:
    """Split a shard's sample into replay ids and tensors (host memory shared with numpy, or
    copied once into pinned memory for a fast, asynchronous copy to a GPU)."""
    ids, tensors = {}, {}
    for module_id, columns in sampled.items():
        ids[module_id] = (columns[C.INDICES], columns[C.GENERATIONS])
        tensors[module_id] = {}
        for name, values in columns.items():
            if name in (C.INDICES, C.GENERATIONS):
                continue
            tensor = torch.from_numpy(np.ascontiguousarray(values))
            tensors[module_id][name] = tensor.pin_memory() if pin_memory else tensor
    return PrefetchedBatch(-1, ids, tensors)


class BatchPrefetcher:
    """Samples from a ShardClient one batch ahead on a background thread."""

    def __init__(self, client: Any, pin_memory: bool):
        self.client = client
        self.pin_memory = pin_memory
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-prefetch")

    def _fetch(self) -> PrefetchedBatch | None:
        shard, sampled = self.client.sample()
        if not sampled:
            return None
        return as_tensors(sampled, self.pin_memory)._replace(shard=shard)

    def batches(self, count: int) -> Iterator[PrefetchedBatch]:
        """Up to `count` batches, each sampled while the caller works on the one before; ends
        early when replay has none (still warming up, or rate-limited). Nothing is sampled
        beyond `count`, so replay sees no request outside the caller's rounds."""
        if count < 1:
            return
        future = self._executor.submit(self._fetch)
        for i in range(count):
            batch = future.result()
            if batch is None:
                return
            if i + 1 < count:
                future = self._executor.submit(self._fetch)
            yield batch
