"""Snapshots, restore on start, the durable log and corrupt files."""

import logging

import numpy as np
import pytest

from marl_alloc.floor import columns as C
from replay import PrioritizedShard, SnapshotError, read_snapshot, write_snapshot
from tests.replay.batches import make_batch, with_priority_inputs

SMALL = {
    "capacity": 200,
    "min_size_to_sample": 10,
    "chunk_size": 4,
    "zstd_dict_bytes": 1024,
    "zstd_dict_train_chunks": 8,
}


def _add(shard, first, n):
    batch = with_priority_inputs(make_batch(first, n), td_abs=np.arange(n) % 5 + 0.5)
    return shard.add({"leaf": batch, "rack": with_priority_inputs(make_batch(first, n // 2 + 1))})


def _assert_same(a, b, path="state"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, np.asarray(b), err_msg=path)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}/{i}")
    else:
        assert a == b, path


def _ids(shard, module="leaf"):
    """Ids of all rows a module holds (uniform-ish priorities: sample plenty)."""
    buffer = shard.buffers[module]
    rows = buffer.sample(60 * len(buffer), 1.0, np.random.default_rng(0))
    return set(rows[C.REWARDS].astype(int).tolist())


def test_snapshot_file_round_trip(tmp_path):
    shard = PrioritizedShard(SMALL)
    for i in range(6):
        _add(shard, i * 45, 45)
    shard.sample(8)
    path = shard.snapshot(tmp_path / "one.arrow")
    copy = PrioritizedShard(SMALL)
    copy.restore(path)
    _assert_same(shard.get_state(), copy.get_state())
    a, b = shard.sample(32), copy.sample(32)
    _assert_same(a, b)


def test_numbered_snapshots_restore_on_start(tmp_path):
    config = {**SMALL, "snapshot_dir": str(tmp_path)}
    shard = PrioritizedShard(config, shard_index=1)
    _add(shard, 0, 50)
    first = shard.snapshot()
    _add(shard, 50, 50)
    second = shard.snapshot()
    assert first.endswith("shard-001/snapshot-000001.arrow")
    assert second.endswith("shard-001/snapshot-000002.arrow")
    assert sorted(p.name for p in (tmp_path / "shard-001").iterdir()) == ["snapshot-000002.arrow"]
    restarted = PrioritizedShard(config, shard_index=1)
    _assert_same(shard.get_state(), restarted.get_state())


def test_periodic_snapshots(tmp_path):
    shard = PrioritizedShard({**SMALL, "snapshot_dir": str(tmp_path), "snapshot_every_s": 1e-3})
    _add(shard, 0, 20)
    _add(shard, 20, 20)
    snapshots = list((tmp_path / "shard-000").glob("snapshot-*.arrow"))
    assert len(snapshots) == 1
    assert read_snapshot(snapshots[0])["counters"]["add_calls"] >= 1


def test_durable_log_keeps_every_acknowledged_add(tmp_path):
    config = {**SMALL, "snapshot_dir": str(tmp_path), "durable": True}
    shard = PrioritizedShard(config)
    _add(shard, 0, 40)
    shard.snapshot()
    _add(shard, 40, 30)
    _add(shard, 70, 25)
    expected = _ids(shard)
    del shard  # killed: no close, no final snapshot
    restarted = PrioritizedShard(config)
    assert restarted.size() == {"leaf": 95, "rack": 21 + 16 + 13}
    assert _ids(restarted) == expected == set(range(95))
    # It folded the log into a new snapshot and logs again: a second kill loses nothing either.
    _add(restarted, 95, 10)
    del restarted
    assert PrioritizedShard(config).size()["leaf"] == 105


def test_durable_log_drops_a_torn_unacknowledged_tail(tmp_path, caplog):
    config = {**SMALL, "snapshot_dir": str(tmp_path), "durable": True}
    shard = PrioritizedShard(config)
    _add(shard, 0, 30)
    _add(shard, 30, 30)
    log = next((tmp_path / "shard-000").glob("log-*.arrows"))
    del shard
    data = log.read_bytes()
    log.write_bytes(data + data[200:900])  # a kill in the middle of writing a third batch
    with caplog.at_level(logging.WARNING):
        restarted = PrioritizedShard(config)
    assert restarted.size()["leaf"] == 60
    assert "unfinished" in caplog.text


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_snapshot_is_one_line_error_or_empty_start(tmp_path, caplog, damage):
    config = {**SMALL, "snapshot_dir": str(tmp_path)}
    shard = PrioritizedShard(config)
    _add(shard, 0, 100)
    path = tmp_path / "shard-000" / "snapshot-000001.arrow"
    assert shard.snapshot() == str(path)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        middle = len(data) // 2
        data[middle : middle + 16] = bytes(16)
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError) as err:
        PrioritizedShard(config)
    message = str(err.value)
    assert "\n" not in message and "corrupt" in message and "on_corrupt=empty" in message
    with caplog.at_level(logging.WARNING):
        fresh = PrioritizedShard({**config, "on_corrupt": "empty"})
    assert fresh.size() == {} and "starting empty" in caplog.text
    # The damaged file was superseded by a good, empty snapshot.
    assert PrioritizedShard(config).size() == {}


def test_missing_or_foreign_files(tmp_path):
    shard = PrioritizedShard(SMALL)
    with pytest.raises(SnapshotError, match="does not exist"):
        shard.restore(tmp_path / "nope.arrow")
    foreign = tmp_path / "foreign.arrow"
    foreign.write_text("not arrow at all")
    with pytest.raises(SnapshotError, match="corrupt"):
        shard.restore(foreign)


def test_write_read_snapshot_keeps_nested_state(tmp_path):
    state = {
        "a": np.arange(6).reshape(2, 3),
        "b": {"c": [1, 2.5, None], "d": np.zeros(0, np.uint8)},
    }
    _assert_same(state, read_snapshot(write_snapshot(tmp_path / "s.arrow", state)))
