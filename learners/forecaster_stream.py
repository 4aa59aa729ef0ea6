"""ForecasterStream: the forecaster's own training stream on the learner, apart from the policy
update, so the forecaster costs the policy only the share its cadence gives it.

The loop it takes part in (LearnerWorker, either update path):

    stream.add(sampled_forecaster_rows)      # replay's uniform sample of the actors' rows
    for each policy update:
        loss = stream.after_policy_update()  # one forecaster step every `train_every`, or None

Replay's forecaster buffer (uniform priorities, fed by the env actors' ForecastFeed rows) is the
stream's store: it hands the learner a fresh uniform draw with every sample, of which the stream
keeps the newest `train_batch_size` rows and trains on each once. A step due while fewer rows
are held (replay's forecaster buffer still filling) waits for them.
"""

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import torch

from marl_alloc.floor import columns as C
from marl_alloc.floor.settings import ForecasterConfig
from marl_alloc.policy.forecaster import FORECAST_TARGETS

# The columns a forecaster step reads; replay's weights and ids are not used.
COLUMNS = (C.OBS, FORECAST_TARGETS)


class ForecasterStream:
    """Holds the newest forecaster rows and steps the learner's forecaster on its cadence;
    `learner` needs `device` and `forecaster_update(rows)`."""

    def __init__(self, learner: Any, config: ForecasterConfig):
        self.learner = learner
        self.every = config.train_every
        self.batch_size = config.train_batch_size
        self._chunks: deque[dict[str, torch.Tensor]] = deque()
        self._held = 0
        self._since_step = 0
        self.steps = 0
        self.rows_trained = 0
        # This thread's CPU time in forecaster steps: on a GPU, what launching them costs.
        self.cpu_seconds = 0.0

    def add(self, rows: Mapping[str, torch.Tensor]) -> None:
        """Take a sample's forecaster rows (host tensors); older rows beyond a step's batch go."""
        chunk = {name: rows[name] for name in COLUMNS}
        self._chunks.append(chunk)
        self._held += len(chunk[C.OBS])
        while self._held - len(self._chunks[0][C.OBS]) >= self.batch_size:
            self._held -= len(self._chunks.popleft()[C.OBS])

    def after_policy_update(self) -> torch.Tensor | None:
        """Count a policy update; when a forecaster step is due and a batch is held, run it on
        the newest rows and return its loss (on the device), else None."""
        self._since_step += 1
        if self._since_step < self.every or self._held < self.batch_size:
            return None
        device = self.learner.device
        rows = {
            name: torch.cat([chunk[name] for chunk in self._chunks])[-self.batch_size :].to(device)
            for name in COLUMNS
        }
        self._chunks.clear()
        self._held = 0
        start = time.thread_time()
        loss = self.learner.forecaster_update(rows)
        self.cpu_seconds += time.thread_time() - start
        self._since_step = 0
        self.steps += 1
        self.rows_trained += self.batch_size
        return loss

    def counters(self) -> dict[str, float]:
        """Steps, rows trained and CPU seconds in steps, since the stream began."""
        return {"steps": self.steps, "rows": self.rows_trained, "cpu_s": self.cpu_seconds}
