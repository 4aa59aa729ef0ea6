"""Group loads kept between calls equal a cold computation: the cache alone, over any run of
node changes, and the extender's observations and scores after nodes changed."""

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.hosts import OFF
from envs.topology import Topology
from marl_alloc.serving.group_loads import GroupLoadCache, group_loads
from marl_alloc.serving.hierarchy import HostColumns, Tiling
from tests.marl_alloc.serving.kube_state import env_at_decision, extender_args, quantity
from tests.marl_alloc.serving.test_service import policy_for, service_for


def random_hosts(rng: np.random.Generator, slots: int) -> HostColumns:
    capacity = rng.choice([0.0, 0.5, 1.0], (2, slots))
    requested = rng.random((2, slots)) * capacity
    return HostColumns(
        cpu_capacity=capacity[0],
        mem_capacity=capacity[1],
        cpu_requested=requested[0],
        mem_requested=requested[1],
        cpu_usage=rng.random(slots) * capacity[0] * 1.2,
        power_state=np.where(capacity[0] > 0, rng.integers(0, 3, slots), OFF).astype(np.int8),
        cpu_alloc=capacity[0] * 1.5,
        mem_alloc=capacity[1],
    )


def changed(rng: np.random.Generator, hosts: HostColumns, share: float) -> HostColumns:
    """`hosts` with about `share` of the slots' requests and usage drawn again."""
    fresh = random_hosts(rng, len(hosts.cpu_capacity))
    redrawn = rng.random(len(hosts.cpu_capacity)) < share
    columns = {
        name: np.where(redrawn, getattr(fresh, name), getattr(hosts, name))
        for name in ("cpu_requested", "mem_requested", "cpu_usage", "power_state")
    }
    return HostColumns(**{**hosts.__dict__, **columns})


@settings(max_examples=60, deadline=None)
@given(
    shapes=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=6),
    share=st.sampled_from([0.0, 0.01, 0.3, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_cached_loads_equal_loads_computed_cold(shapes, share, seed):
    rng = np.random.default_rng(seed)
    cache = GroupLoadCache()
    hosts = None
    for clusters, racks in shapes:
        top = Topology(clusters, racks, 2, 3)
        tiling = Tiling(top, np.arange(top.num_hosts))
        same_shape = hosts is not None and len(hosts.cpu_capacity) == top.num_hosts
        hosts = changed(rng, hosts, share) if same_shape else random_hosts(rng, top.num_hosts)
        for _ in range(2):  # the same columns again: the same loads
            warm, cold = cache.loads(hosts, tiling), group_loads(hosts, tiling)
            np.testing.assert_array_equal(warm.per_rack, cold.per_rack)
            np.testing.assert_array_equal(warm.per_leaf, cold.per_leaf)


def test_after_node_changes_the_extender_sees_and_scores_as_a_fresh_replica_would():
    shape = (2, 1, 5, 100)
    env, _ = env_at_decision(policy_for(shape)[0], 3, deferrable=False)
    warm, _ = service_for(shape, env, 3)
    args = extender_args(env)
    for i, node in enumerate(args["Nodes"]["items"]):
        node["metadata"]["resourceVersion"] = f"1-{i}"
    warm.prepare("prioritize", args)
    later = copy.deepcopy(args)
    for i in (0, 7, 512, 999):  # a binding on each of four nodes in three zones
        node = later["Nodes"]["items"][i]
        node["metadata"]["resourceVersion"] = f"2-{i}"
        node["metadata"]["annotations"]["marl-alloc.io/cpu-requested"] = quantity(0.5 + i / 1e4)
    cold, _ = service_for(shape, env, 3)
    seen = {
        name: service.prepare("prioritize", later)
        for name, service in [("warm", warm), ("cold", cold)]
    }
    for level in ("cluster", "rack", "leaf"):
        rows = np.arange(seen["cold"].decision.levels.mask[level].shape[0])
        np.testing.assert_array_equal(
            seen["warm"].decision.levels.observations(level, rows),
            seen["cold"].decision.levels.observations(level, rows),
        )
    scores = [cold.policy.decide([p.decision])[0].scores for p in seen.values()]
    np.testing.assert_array_equal(scores[0], scores[1])
