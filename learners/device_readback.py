"""What leaves the learner's device, and when: a sampled batch's priorities once, as one
non-blocking copy read after the next update has been queued; logged scalars once per round."""

import numpy as np
import torch

from learners.apex_torch_learner import UpdateResult
from marl_alloc.floor import columns as C


class PendingPriorities:
    """The |td| and attention of every update made from one sampled batch, on their way to the
    host; `updates()` waits for the copy and cuts them into the shard's priority updates."""

    def __init__(self, shard: int, ids: dict, results: list[UpdateResult]):
        self.shard, self.ids = shard, ids
        self._rows = [result.rows for result in results]
        stacked = torch.cat([result.priorities for result in results], dim=1).detach()
        self._event = None
        if stacked.is_cuda:
            self._host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=True)
            self._host.copy_(stacked, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        else:
            self._host = stacked

    def updates(self) -> dict[str, dict[str, np.ndarray]]:
        """Per module: INDICES, GENERATIONS, TD_ABS, ATTENTION, rows in sampled order."""
        if self._event is not None:
            self._event.synchronize()
        values = self._host.numpy()
        td: dict[str, list] = {m: [] for m in self.ids}
        attention: dict[str, list] = {m: [] for m in self.ids}
        start = 0
        for rows in self._rows:  # one update after another, each module's slice in turn
            for module_id, count in rows.items():
                td[module_id].append(values[0, start : start + count])
                attention[module_id].append(values[1, start : start + count])
                start += count
        return {
            module_id: {
                C.INDICES: indices,
                C.GENERATIONS: generations,
                C.TD_ABS: np.concatenate(td[module_id]),
                C.ATTENTION: np.concatenate(attention[module_id]),
            }
            for module_id, (indices, generations) in self.ids.items()
        }


class DeviceMeans:
    """Means of scalars that stay on the device until `read`: one host sync per round."""

    def __init__(self):
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, values: dict[str, torch.Tensor]) -> None:
        """Add one value per key (device scalars)."""
        for key, value in values.items():
            previous = self._sums.get(key)
            # A copy, never the value itself: a CUDA graph's outputs are overwritten on replay.
            self._sums[key] = (
                value.detach().float().clone() if previous is None else previous + value
            )
            self._counts[key] = self._counts.get(key, 0) + 1

    def read(self) -> dict[str, float]:
        """The means so far, read from the device at once."""
        if not self._sums:
            return {}
        keys = list(self._sums)
        sums = torch.stack([self._sums[k] for k in keys]).cpu().tolist()
        return {key: total / self._counts[key] for key, total in zip(keys, sums, strict=True)}
