"""Extender scores (0..10) for candidate nodes: from the policy's Q values, or best-fit.

Policy order: the hierarchical policy places a task greedily: the cluster level picks the rack
with the highest Q, the rack level the leaf group, the leaf level the host. Ranking every
feasible host by (cluster-level Q of its rack, rack-level Q of its leaf group, leaf-level Q of the
host), lexicographically, puts that greedy choice first and orders the rest as the policy would
fall back. With several virtual clusters (zones, or more racks than the policy's R), their
cluster-level Q values are compared directly.

Scores from a ranking of m feasible hosts: the first gets 10 (MaxExtenderPriority), the others
9 down to 1 linearly by rank; hosts the pod does not fit get 0.
"""

import numpy as np

from marl_alloc.serving.hierarchy import HostColumns, Tiling
from marl_alloc.serving.protocol import MAX_EXTENDER_PRIORITY

HEURISTICS = ("best-fit", "worst-fit")


def scores_from_ranking(ranked_nodes: np.ndarray, num_nodes: int) -> np.ndarray:
    """int64[num_nodes]: 10 for ranked_nodes[0], then 9..1 by rank, 0 for unranked nodes."""
    scores = np.zeros(num_nodes, np.int64)
    m = len(ranked_nodes)
    if m == 0:
        return scores
    rank = np.arange(1, m)
    top = MAX_EXTENDER_PRIORITY - 1
    scores[ranked_nodes[1:]] = top - np.floor((top - 1) * (rank - 1) / max(m - 2, 1))
    scores[ranked_nodes[0]] = MAX_EXTENDER_PRIORITY
    return scores


def policy_ranking(q: dict[str, np.ndarray], feasible: np.ndarray, tiling: Tiling) -> np.ndarray:
    """Node indices of the feasible hosts, best first, in the policy's hierarchical order."""
    top = tiling.topology
    slots = np.flatnonzero(feasible & (tiling.node_of_slot >= 0))
    hosts_per_rack = top.leaves_per_rack * top.hosts_per_leaf
    cluster = slots // top.hosts_per_cluster
    vrack = slots // hosts_per_rack
    leaf = slots // top.hosts_per_leaf
    q_cluster = q["cluster"][cluster, vrack % top.racks_per_cluster]
    q_rack = q["rack"][vrack, leaf % top.leaves_per_rack]
    q_leaf = q["leaf"][leaf, slots % top.hosts_per_leaf]
    # lexsort: last key is primary; equal Q values keep slot order, as argmax keeps the first.
    order = np.lexsort((slots, -q_leaf, -q_rack, -q_cluster))
    return tiling.node_of_slot[slots[order]]


def heuristic_ranking(
    name: str, hosts: HostColumns, cpu: float, mem: float, feasible: np.ndarray, tiling: Tiling
) -> np.ndarray:
    """Node indices of the feasible hosts, best first: best-fit (envs BestFit, Kubernetes
    MostAllocated) prefers the host left most allocated, worst-fit the least allocated."""
    present = (hosts.cpu_capacity > 0) & (hosts.mem_capacity > 0)
    cpu_cap = np.where(present, hosts.cpu_capacity, 1.0)
    mem_cap = np.where(present, hosts.mem_capacity, 1.0)
    allocated_after = 0.5 * (
        (hosts.cpu_requested + cpu) / cpu_cap + (hosts.mem_requested + mem) / mem_cap
    )
    key = -allocated_after if name == "best-fit" else allocated_after
    slots = np.flatnonzero(feasible & (tiling.node_of_slot >= 0))
    order = np.lexsort((slots, key[slots]))
    return tiling.node_of_slot[slots[order]]
