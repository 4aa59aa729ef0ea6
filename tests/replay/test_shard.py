"""PrioritizedShard: per-module buffers, warm-up, beta annealing, priority updates, stats."""

import numpy as np
import pytest

from marl_alloc.floor import columns as C
from marl_alloc.floor.errors import ConfigError
from replay import PrioritizedShard, ReplayConfig, ReplayError
from tests.replay.batches import make_batch, with_priority_inputs

SMALL = {"capacity": 64, "min_size_to_sample": 10, "chunk_size": 4, "zstd_dict_bytes": 0}


def _batches(first, n, modules=("rack", "leaf")):
    return {m: with_priority_inputs(make_batch(first, n)) for m in modules}


def test_sample_is_none_until_a_module_is_ready_then_per_ready_module():
    shard = PrioritizedShard(SMALL)
    assert shard.sample(4) is None
    assert shard.add(_batches(0, 6)) == 12
    assert shard.sample(4) is None
    shard.add({"leaf": with_priority_inputs(make_batch(6, 6))})
    sampled = shard.sample(5)
    assert set(sampled) == {"leaf"}
    batch = sampled["leaf"]
    assert len(batch[C.ACTIONS]) == 5
    assert {C.WEIGHTS, C.INDICES, C.GENERATIONS} <= set(batch)
    assert C.TD_ABS not in batch and C.ATTENTION not in batch
    assert shard.size() == {"rack": 6, "leaf": 12}


def test_capacity_is_split_over_shards_and_modules_fill_separately():
    config = {**SMALL, "capacity": 101, "num_shards": 3}
    capacities = [PrioritizedShard(config, i).capacity for i in range(3)]
    assert capacities == [34, 34, 33]
    shard = PrioritizedShard(config, 2)
    shard.add(_batches(0, 50))
    assert shard.size() == {"rack": 33, "leaf": 33}


def test_beta_anneals_over_sample_calls():
    shard = PrioritizedShard({**SMALL, "beta_init": 0.4, "beta_final": 1.0, "beta_anneal_steps": 4})
    shard.add(_batches(0, 20))
    betas = [shard.beta()]
    for _ in range(6):
        shard.sample(2)
        betas.append(shard.beta())
    np.testing.assert_allclose(betas, [0.4, 0.55, 0.7, 0.85, 1.0, 1.0, 1.0])


def test_update_priorities_per_module_counts_stale_rows():
    shard = PrioritizedShard(SMALL)
    shard.add(_batches(0, 20))
    sampled = shard.sample(8)
    shard.add(_batches(20, 64))  # overwrites every slot
    updates = {
        m: {
            C.INDICES: b[C.INDICES],
            C.GENERATIONS: b[C.GENERATIONS],
            C.TD_ABS: np.full(8, 3.0),
            C.ATTENTION: np.zeros(8),
        }
        for m, b in sampled.items()
    }
    assert shard.update_priorities(updates) == 0
    fresh = shard.sample(8)
    updates = {
        m: {**u, C.INDICES: fresh[m][C.INDICES], C.GENERATIONS: fresh[m][C.GENERATIONS]}
        for m, u in updates.items()
    }
    updates["unknown_module"] = updates["leaf"]
    assert shard.update_priorities(updates) == 16
    stats = shard.stats()
    assert stats["priority_updates"] == 16 and stats["stale_updates"] == 24


def test_stats_have_sizes_counters_and_compression():
    shard = PrioritizedShard(SMALL)
    shard.add(_batches(0, 30))
    shard.sample(4)
    stats = shard.stats()
    assert stats["size"] == 60 and stats["sizes"] == {"rack": 30, "leaf": 30}
    assert stats["added"] == 60 and stats["add_calls"] == 1
    assert stats["sampled"] == 8 and stats["sample_calls"] == 1
    assert stats["bytes_per_transition"] > 0 and stats["compression_ratio"] > 0
    assert set(stats["modules"]) == {"rack", "leaf"}


def test_same_seed_same_samples_and_state_round_trip():
    a, b = PrioritizedShard(SMALL), PrioritizedShard(SMALL)
    for shard in (a, b):
        shard.add(_batches(0, 40))
    np.testing.assert_array_equal(a.sample(16)["leaf"][C.INDICES], b.sample(16)["leaf"][C.INDICES])
    c = PrioritizedShard(SMALL)
    c.set_state(a.get_state())
    from_a, from_c = a.sample(16)["rack"], c.sample(16)["rack"]
    for name, column in from_a.items():
        np.testing.assert_array_equal(column, from_c[name])
    assert c.stats()["sample_calls"] == a.stats()["sample_calls"]


def test_a_bad_batch_adds_nothing():
    shard = PrioritizedShard(SMALL)
    shard.add(_batches(0, 5))
    bad = _batches(5, 5)
    del bad["leaf"][C.TD_ABS]
    with pytest.raises(ReplayError, match="td_abs"):
        shard.add(bad)
    assert shard.size() == {"rack": 5, "leaf": 5}


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match="replay.capacityy: Key 'capacityy' not in"):
        PrioritizedShard({**SMALL, "capacityy": 3})
    with pytest.raises(ConfigError, match="on_corrupt"):
        ReplayConfig.from_mapping({"on_corrupt": "ignore"})
    with pytest.raises(ConfigError, match="replay.compress: .*not a valid bool"):
        ReplayConfig.from_mapping({"compress": "maybe"})
    with pytest.raises(ConfigError, match="memory_mb"):
        ReplayConfig.from_mapping({"memory_mb": 0})
    assert ReplayConfig.from_mapping({"memory_mb": 512}).memory_mb == 512.0


def test_default_yaml_matches_config_defaults_but_the_training_rate_limit():
    import dataclasses

    from marl_alloc.floor.settings.compose import compose_settings

    # Training limits sampled/inserted by default; a bare shard (tests, tools) does not.
    configured = compose_settings().replay
    assert configured.samples_per_insert == 4.0
    assert dataclasses.replace(configured, samples_per_insert=None) == ReplayConfig()
