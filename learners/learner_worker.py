"""LearnerWorker: pulls prioritized batches, trains the RLlib Learner, returns priorities.

The loop it takes part in (Ape-X learner):

    metrics = worker.train_round(num_updates)  # sample -> update -> update_priorities, repeated
    weights = worker.get_weights()             # published to actors through the object store

On the fused path (the default) the next batch is sampled and pinned on a background thread while
the current one trains, each sampled batch gives `training.batches_per_sample` gradient steps,
its priorities go back once, copied off the device after the next update has been queued, and
losses are read from the device once per round. The forecaster's rows leave each sample for its
own stream (learners/forecaster_stream.py), which steps the forecaster on its own cadence after
policy updates; their replay priorities stay the uniform ones they were added with.
"""

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import ray
import torch
from ray.rllib.core import COMPONENT_RL_MODULE
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.numpy import convert_to_numpy

from learners.batch_prefetcher import BatchPrefetcher
from learners.device_readback import DeviceMeans, PendingPriorities
from learners.forecaster_stream import COLUMNS, ForecasterStream
from learners.freed_memory import retain_freed_memory
from marl_alloc.floor import columns as C
from marl_alloc.policy import spec_spaces
from marl_alloc.policy.forecaster import FORECASTER_ID

logger = logging.getLogger(__name__)


class ShardClient:
    """Access to replay shards, local objects or Ray actors; remote shards each keep one sample
    request in flight, and the learner takes whichever answers first."""

    def __init__(self, shards: Sequence[Any], batch_size: int):
        self.shards = list(shards)
        self.remote = bool(self.shards) and hasattr(self.shards[0].sample, "remote")
        self.batch_size = batch_size
        self._prefetched: dict[int, Any] = {}
        self._next = 0
        self._pending_updates: list = []

    def sample(self) -> tuple[int, dict | None]:
        """A batch from the next shard with one ready, round robin among ready ones; None while
        replay warms up (or the shard that answered has just failed)."""
        i = self._next
        self._next = (self._next + 1) % len(self.shards)
        if not self.remote:
            return i, self.shards[i].sample(self.batch_size)
        for j, shard in enumerate(self.shards):
            if j not in self._prefetched:
                self._prefetched[j] = shard.sample.remote(self.batch_size)
        # Starting the wait list at the round-robin position shares ties fairly; waiting on all
        # keeps a restarting shard from stalling the learner while the others can serve.
        order = [(i + k) % len(self.shards) for k in range(len(self.shards))]
        ready, _ = ray.wait([self._prefetched[j] for j in order], num_returns=1)
        shard = order[[self._prefetched[j] for j in order].index(ready[0])]
        ref = self._prefetched.pop(shard)
        self._prefetched[shard] = self.shards[shard].sample.remote(self.batch_size)
        try:
            return shard, ray.get(ref)
        except ray.exceptions.RayActorError:
            # The shard died with this request; its restart answers the one just sent.
            return shard, None

    def update_priorities(self, shard: int, updates: dict) -> None:
        """Send priorities back; remote sends are async, bounded to a few in flight."""
        if not self.remote:
            self.shards[shard].update_priorities(updates)
            return
        self._pending_updates.append(self.shards[shard].update_priorities.remote(updates))
        if len(self._pending_updates) > 4 * len(self.shards):
            done, self._pending_updates = ray.wait(self._pending_updates, num_returns=1)


class LearnerWorker:
    """Owns the RLlib Learner (GPU when the config asks for it) and a replay shard client."""

    def __init__(self, algo_config, shards: Sequence[Any], learner_state: dict | None = None):
        # The process that trains reuses its freed tensor memory (learners/freed_memory.py).
        retain_freed_memory()
        self.learner = algo_config.build_learner(spaces=spec_spaces(algo_config.rl_module_spec))
        if learner_state is not None:
            self.learner.set_state(learner_state)
        self.training = algo_config.settings.training
        self.fused = self.training.learner_path == "fused"
        per_sample = self.training.batches_per_sample if self.fused else 1
        batch_size = int(algo_config.train_batch_size_per_learner) * per_sample
        self.client = ShardClient(shards, batch_size)
        on_gpu = self.learner.device.type == "cuda"
        self.prefetcher = BatchPrefetcher(self.client, pin_memory=on_gpu)
        self.forecaster = None
        self._warned_rows = False
        if FORECASTER_ID in self.learner.module:
            self.forecaster = ForecasterStream(self.learner, algo_config.settings.model.forecaster)
        self.num_updates = 0
        self.weights_version = 0

    def train_round(self, num_updates: int) -> dict[str, Any]:
        """Run up to `num_updates` gradient steps; stops early while replay is still warming up."""
        if self.fused:
            done, losses, credit = self._train_fused(num_updates)
        else:
            done, losses, credit = self._train_rllib_update(num_updates)
        self.num_updates += done
        if done:
            self.weights_version += 1
        stats = {
            "updates": done,
            "num_updates_lifetime": self.num_updates,
            "loss": losses,
            # team_loss and credit_variance, when the policy has a mixer and replay team rows
            "credit": credit,
        }
        if self.forecaster is not None:
            stats["forecaster"] = self.forecaster.counters()
        return stats

    def _take_forecaster_rows(self, columns: dict[str, torch.Tensor] | None) -> None:
        """Hand a sample's forecaster rows (removed from it) to the forecaster's stream."""
        if columns is None:
            return
        if self.forecaster is None:
            if not self._warned_rows:
                logger.warning(
                    "replay holds forecaster rows but the policy has no forecaster "
                    "(model.forecaster.enabled=false): they are not trained on"
                )
                self._warned_rows = True
            return
        self.forecaster.add(columns)

    def _forecaster_step(self, losses: DeviceMeans) -> None:
        if self.forecaster is not None:
            loss = self.forecaster.after_policy_update()
            if loss is not None:
                losses.add({FORECASTER_ID: loss})

    def _train_fused(self, num_updates: int) -> tuple[int, dict, dict]:
        steps = self.training.batches_per_sample
        losses, credit = DeviceMeans(), DeviceMeans()
        pending: PendingPriorities | None = None
        done = 0
        for batch in self.prefetcher.batches(-(-num_updates // steps)):
            batch.ids.pop(FORECASTER_ID, None)
            self._take_forecaster_rows(batch.tensors.pop(FORECASTER_ID, None))
            results = []
            for part in batch.to_device(self.learner.device, steps):
                result = self.learner.fused_update(part)
                losses.add(result.losses)
                credit.add(result.credit)
                results.append(result)
                self._forecaster_step(losses)
            # The previous batch's priorities are read only now, with this batch's updates
            # queued on the device.
            if pending is not None:
                self.client.update_priorities(pending.shard, pending.updates())
            pending = PendingPriorities(batch.shard, batch.ids, results)
            done += len(results)
        if pending is not None:
            self.client.update_priorities(pending.shard, pending.updates())
        return done, losses.read(), credit.read()

    def _train_rllib_update(self, num_updates: int) -> tuple[int, dict, dict]:
        """The previous path: RLlib's `Learner.update` per batch, numpy in, numpy out."""
        done = 0
        losses: dict[str, list[float]] = {}
        credit: dict[str, list[float]] = {}
        forecaster_losses = DeviceMeans()
        for _ in range(num_updates):
            shard, sampled = self.client.sample()
            if not sampled:
                break
            rows = sampled.pop(FORECASTER_ID, None)
            if rows is not None:
                # A copy: Ray's sample arrays are read-only, and these few rows are small.
                rows = {name: torch.from_numpy(np.array(rows[name])) for name in COLUMNS}
            self._take_forecaster_rows(rows)
            ids = {m: (b.pop(C.INDICES), b.pop(C.GENERATIONS)) for m, b in sampled.items()}
            batch = MultiAgentBatch(
                {m: SampleBatch(b) for m, b in sampled.items()},
                env_steps=sum(len(b[C.WEIGHTS]) for b in sampled.values()),
            )
            # No timesteps: the learner has no schedules, and it does not know the env steps.
            self.learner.update(batch=batch)
            self.client.update_priorities(shard, self._priority_updates(ids))
            for module_id in sampled:
                losses.setdefault(module_id, []).append(self.learner.last_loss[module_id])
            if C.TEAM in sampled:
                for key, value in self.learner.last_credit.items():
                    credit.setdefault(key, []).append(value)
            self._forecaster_step(forecaster_losses)
            done += 1
        return (
            done,
            {m: float(np.mean(v)) for m, v in losses.items()} | forecaster_losses.read(),
            {k: float(np.mean(v)) for k, v in credit.items()},
        )

    def _priority_updates(self, ids: dict) -> dict[str, dict[str, np.ndarray]]:
        td, attention = self.learner.last_td_abs, self.learner.last_attention
        return {
            m: {
                C.INDICES: idx,
                C.GENERATIONS: gen,
                C.TD_ABS: td[m],
                C.ATTENTION: attention[m],
            }
            for m, (idx, gen) in ids.items()
        }

    def get_weights(self) -> tuple[dict, int]:
        """Inference-only module weights as numpy, with their version."""
        state = self.learner.module.get_state(inference_only=True)
        return convert_to_numpy(state), self.weights_version

    def get_state(self) -> dict:
        """The RLlib Learner's full state (modules, optimizers) for checkpoints."""
        return self.learner.get_state()

    def module_state(self) -> dict:
        """Only the modules' state."""
        return self.learner.get_state(components=COMPONENT_RL_MODULE)
