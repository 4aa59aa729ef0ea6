"""The learner's loop on the fused path: batches sampled one ahead, several gradient steps per
sample, priorities back to the shard once per sample in the sampled order, losses per round."""

import numpy as np
import pytest
import torch

from learners import LearnerWorker
from learners.apex_torch_learner import UpdateResult
from learners.batch_prefetcher import BatchPrefetcher, as_tensors
from learners.device_readback import DeviceMeans, PendingPriorities
from marl_alloc.apex.algorithm import ApexConfig
from marl_alloc.floor import columns as C
from marl_alloc.floor.settings import PolicyConfig, Settings, SyntheticEnvConfig, TrainingConfig
from marl_alloc.policy import LEVEL_MODULES, build_policy_spec, module_for_agent

DIMS = {"cluster": 6, "rack": 5, "leaf": 4}
MLP = PolicyConfig(encoder="mlp", hidden_sizes=[16])
ACTIONS = {"cluster": 4, "rack": 3, "leaf": 2}
BATCH = 16


class RecordingShard:
    """A local shard of random level transitions that records what it is asked."""

    def __init__(self, ready_samples: int = 100):
        self.rng = np.random.default_rng(0)
        self.ready_samples = ready_samples
        self.sampled: list[dict] = []
        self.updates: list[dict] = []

    def sample(self, batch_size: int) -> dict | None:
        if len(self.sampled) >= self.ready_samples:
            return None
        out = {}
        for level, dim in DIMS.items():
            actions = ACTIONS[level]
            out[level] = {
                C.OBS: self.rng.normal(size=(batch_size, dim)).astype(np.float32),
                C.ACTION_MASK: np.ones((batch_size, actions), bool),
                C.ACTIONS: self.rng.integers(0, actions, batch_size),
                C.REWARDS: self.rng.normal(size=batch_size).astype(np.float32),
                C.NEXT_OBS: self.rng.normal(size=(batch_size, dim)).astype(np.float32),
                C.NEXT_ACTION_MASK: np.ones((batch_size, actions), bool),
                C.DISCOUNTS: np.full(batch_size, 0.9, np.float32),
                C.WEIGHTS: np.ones(batch_size, np.float32),
                C.INDICES: self.rng.permutation(10_000)[:batch_size],
                C.GENERATIONS: np.zeros(batch_size, np.int64),
            }
        self.sampled.append(out)
        return {m: dict(b) for m, b in out.items()}

    def update_priorities(self, updates: dict) -> int:
        self.updates.append(updates)
        return sum(len(u[C.INDICES]) for u in updates.values())


def _config(**training):
    spec = build_policy_spec(DIMS, ACTIONS, MLP)
    config = (
        ApexConfig()
        .multi_agent(policies=list(LEVEL_MODULES), policy_mapping_fn=module_for_agent)
        .rl_module(rl_module_spec=spec)
        .training(lr=1e-3, train_batch_size_per_learner=BATCH)
    )
    config.settings = Settings(env=SyntheticEnvConfig(), training=TrainingConfig(**training))
    return config


def test_priorities_go_back_once_per_sample_for_every_sampled_row_in_order():
    shard = RecordingShard()
    worker = LearnerWorker(_config(batches_per_sample=2), [shard])
    stats = worker.train_round(4)
    assert stats["updates"] == 4 and worker.learner.num_gradient_updates == 4
    assert len(shard.sampled) == len(shard.updates) == 2
    for sampled, update in zip(shard.sampled, shard.updates, strict=True):
        for level in DIMS:
            assert len(sampled[level][C.OBS]) == 2 * BATCH
            np.testing.assert_array_equal(update[level][C.INDICES], sampled[level][C.INDICES])
            assert update[level][C.TD_ABS].shape == (2 * BATCH,)
            assert np.isfinite(update[level][C.TD_ABS]).all()
    assert set(stats["loss"]) == set(DIMS)
    assert all(np.isfinite(v) for v in stats["loss"].values())


def test_the_td_errors_sent_are_the_updates_own():
    shard = RecordingShard()
    worker = LearnerWorker(_config(), [shard])
    before = worker.learner.get_state()
    worker.train_round(1)
    replay = LearnerWorker(_config(), [RecordingShard()])
    replay.learner.set_state(before)
    batch = as_tensors(shard.sampled[0], pin_memory=False).tensors
    expected = replay.learner.fused_update(batch)
    sent = shard.updates[0]
    start = 0
    for module_id, rows in expected.rows.items():
        np.testing.assert_allclose(
            sent[module_id][C.TD_ABS], expected.priorities[0, start : start + rows], rtol=1e-6
        )
        start += rows


def test_a_round_stops_when_replay_has_nothing_and_samples_nothing_beyond_it():
    shard = RecordingShard(ready_samples=3)
    worker = LearnerWorker(_config(), [shard])
    assert worker.train_round(5)["updates"] == 3
    assert worker.train_round(2)["updates"] == 0
    assert len(shard.sampled) == 3
    shard.ready_samples = 10
    assert worker.train_round(2)["updates"] == 2
    assert len(shard.sampled) == 5  # two more, none fetched ahead of a round


def test_the_previous_path_still_trains_and_sends_priorities():
    shard = RecordingShard()
    worker = LearnerWorker(_config(learner_path="rllib_update"), [shard])
    stats = worker.train_round(2)
    assert stats["updates"] == 2 and len(shard.updates) == 2
    assert set(stats["loss"]) == set(DIMS)


def test_pending_priorities_cut_the_stacked_updates_back_into_modules():
    def result(rows: dict[str, int], offset: float) -> UpdateResult:
        total = sum(rows.values())
        values = torch.arange(total, dtype=torch.float32) + offset
        return UpdateResult({}, {}, torch.stack([values, -values]), rows)

    ids = {"a": (np.arange(5), np.zeros(5)), "b": (np.arange(3), np.ones(3))}
    # two updates from one sample: a's rows 0-2 then b's 0-1, then a's 3-4 and b's 2
    pending = PendingPriorities(7, ids, [result({"a": 3, "b": 2}, 0), result({"a": 2, "b": 1}, 10)])
    updates = pending.updates()
    np.testing.assert_array_equal(updates["a"][C.TD_ABS], [0, 1, 2, 10, 11])
    np.testing.assert_array_equal(updates["b"][C.TD_ABS], [3, 4, 12])
    np.testing.assert_array_equal(updates["b"][C.ATTENTION], [-3, -4, -12])
    np.testing.assert_array_equal(updates["b"][C.GENERATIONS], [1, 1, 1])
    assert pending.shard == 7


def test_device_means_average_each_key_over_what_was_added():
    means = DeviceMeans()
    means.add({"a": torch.tensor(1.0), "b": torch.tensor(4.0)})
    means.add({"a": torch.tensor(3.0)})
    assert means.read() == pytest.approx({"a": 2.0, "b": 4.0})
    assert DeviceMeans().read() == {}


def test_the_prefetcher_splits_a_sample_into_equal_slices_on_the_device():
    prefetcher = BatchPrefetcher(_Client(RecordingShard()), pin_memory=False)
    (batch,) = list(prefetcher.batches(1))
    parts = batch.to_device(torch.device("cpu"), count=4)
    assert len(parts) == 4
    whole = batch.tensors["leaf"][C.OBS]
    torch.testing.assert_close(torch.cat([p["leaf"][C.OBS] for p in parts]), whole)
    assert C.INDICES not in parts[0]["leaf"]


class _Client:
    def __init__(self, shard):
        self.shard = shard

    def sample(self):
        return 0, self.shard.sample(8)
