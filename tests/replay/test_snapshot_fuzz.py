"""Fuzz the replay files a restarted shard reads: a snapshot or log damaged in any way loads, or
is one line (SnapshotError); never another exception, never a hang."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from replay import AddSource, PrioritizedShard, SnapshotError, read_snapshot
from replay.durable_log import DurableLog, read_log
from tests.fuzz import FUZZ, loads_or_one_line_error, mutations
from tests.replay.batches import make_batch, with_priority_inputs

SMALL = {"capacity": 64, "min_size_to_sample": 4, "chunk_size": 4, "zstd_dict_bytes": 0}


def _batches(first: int) -> dict:
    return {"leaf": with_priority_inputs(make_batch(first, 6), td_abs=np.arange(6) + 0.5)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A valid snapshot and a valid two-batch log, as bytes."""
    folder = tmp_path_factory.mktemp("valid")
    shard = PrioritizedShard(SMALL)
    shard.add(_batches(0), AddSource("actor-0", 1, 6))
    snapshot = shard.snapshot(folder / "snapshot.arrow")
    log = DurableLog(folder / "log.arrows")
    log.append(_batches(0), AddSource("actor-0", 1, 6))
    log.append(_batches(6))
    log.close()
    return {"snapshot": open(snapshot, "rb").read(), "log": (folder / "log.arrows").read_bytes()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _restore(path) -> PrioritizedShard:
    shard = PrioritizedShard(SMALL)
    shard.restore(path)
    return shard


@FUZZ
@given(data=st.data())
def test_snapshot_bytes(files, folder, data):
    path = folder / "snapshot.arrow"
    path.write_bytes(data.draw(mutations(files["snapshot"])))
    state = loads_or_one_line_error(lambda: read_snapshot(path), (SnapshotError,))
    if state is not None:  # intact where it matters: the shard takes it
        loads_or_one_line_error(lambda: _restore(path), (SnapshotError,))


@FUZZ
@given(data=st.data())
def test_log_bytes(files, folder, data):
    path = folder / "log.arrows"
    path.write_bytes(data.draw(mutations(files["log"])))
    adds = loads_or_one_line_error(lambda: list(read_log(path)), (SnapshotError,))
    for batches, source in adds or []:
        assert source is None or isinstance(source, AddSource)
        PrioritizedShard(SMALL).add(batches, source)  # a logged add replays
