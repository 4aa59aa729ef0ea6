"""Extender scores (0..10) for candidate nodes from a ranking of the feasible ones, and the
heuristics' rankings (the policy's is built top-down: marl_alloc.serving.top_down).

Scores from a ranking of m feasible hosts: the first gets 10 (MaxExtenderPriority), the others
9 down to 1 linearly by rank; hosts the pod does not fit get 0.
"""

import numpy as np

from marl_alloc.serving.hierarchy import HostColumns, Tiling
from marl_alloc.serving.protocol import MAX_EXTENDER_PRIORITY

HEURISTICS = ("best-fit", "worst-fit")


def rank_scores(ranks: np.ndarray, m: int) -> np.ndarray:
    """int64 scores of these ranks (0: the best) among m ranked hosts."""
    ranks = np.asarray(ranks, np.int64)
    top = MAX_EXTENDER_PRIORITY - 1
    below_first = top - np.floor((top - 1) * (ranks - 1) / max(m - 2, 1))
    return np.where(ranks == 0, MAX_EXTENDER_PRIORITY, below_first).astype(np.int64)


def scores_from_ranking(ranked_nodes: np.ndarray, num_nodes: int) -> np.ndarray:
    """int64[num_nodes]: 10 for ranked_nodes[0], then 9..1 by rank, 0 for unranked nodes."""
    scores = np.zeros(num_nodes, np.int64)
    scores[ranked_nodes] = rank_scores(np.arange(len(ranked_nodes)), len(ranked_nodes))
    return scores


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
