"""A restarted shard restoring in the background: it acknowledges adds (logged) at once, applies
them after its snapshot and log, each once, and samples only then."""

import threading
from pathlib import Path

import numpy as np
import pytest

from replay import AddSource, PrioritizedShard, SnapshotError
from replay.snapshot_store import SnapshotStore
from tests.replay.batches import make_batch, with_priority_inputs

SMALL = {
    "capacity": 400,
    "min_size_to_sample": 10,
    "chunk_size": 4,
    "zstd_dict_bytes": 1024,
    "zstd_dict_train_chunks": 8,
}


def _batch(first, n):
    return {"leaf": with_priority_inputs(make_batch(first, n), td_abs=np.arange(n) % 5 + 0.5)}


@pytest.fixture
def slow_reads(monkeypatch):
    """Reads of a snapshot wait until the test lets them go: a restore that takes its time."""
    go = threading.Event()
    read = SnapshotStore.latest_state

    def held(store):
        if store.snapshot_number:  # there is a snapshot to read
            assert go.wait(timeout=30)
        return read(store)

    monkeypatch.setattr(SnapshotStore, "latest_state", held)
    return go


def _killed_shard(config):
    shard = PrioritizedShard(config)
    shard.add(_batch(0, 40), AddSource("a", 1, 40))
    shard.snapshot()
    shard.add(_batch(40, 30), AddSource("a", 2, 70))  # only in the log


def test_adds_are_acknowledged_during_the_restore_and_applied_once_after_it(tmp_path, slow_reads):
    config = {**SMALL, "snapshot_dir": str(tmp_path), "durable": True}
    _killed_shard(config)
    restarted = PrioritizedShard(config, restore_in_background=True)
    sampled = []
    sampler = threading.Thread(target=lambda shard=restarted: sampled.append(shard.sample(8)))
    sampler.start()
    # Ray resends the add in flight at the kill (already in the log), then the next one.
    assert restarted.add(_batch(40, 30), AddSource("a", 2, 70)) == 30
    assert restarted.add(_batch(70, 20), AddSource("a", 3, 90)) == 20
    assert restarted.size() == {}  # acknowledged, not applied yet
    sampler.join(timeout=0.2)
    assert sampler.is_alive()  # samples wait for the restore
    slow_reads.set()
    sampler.join(timeout=30)
    assert sampled[0] is not None
    assert restarted.writers() == {"a": [3, 90, 90]}  # the retry applied once
    assert restarted.size() == {"leaf": 90}
    assert restarted.stats()["replayed_adds"] == 1
    assert restarted.stats()["duplicate_adds"] == 1
    del restarted  # killed again: the adds acknowledged during the restore were logged
    assert PrioritizedShard(config).writers() == {"a": [3, 90, 90]}


def test_a_failed_background_restore_fails_every_call_after_it(tmp_path):
    config = {**SMALL, "snapshot_dir": str(tmp_path)}
    shard = PrioritizedShard(config)
    shard.add(_batch(0, 40))
    path = Path(shard.snapshot())
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = bytes(16)
    path.write_bytes(bytes(data))
    restarted = PrioritizedShard(config, restore_in_background=True)
    with pytest.raises(SnapshotError, match="corrupt"):
        restarted.stats()
    with pytest.raises(SnapshotError, match="corrupt"):
        restarted.add(_batch(40, 10))
