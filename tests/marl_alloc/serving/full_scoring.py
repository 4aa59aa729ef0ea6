"""The extender's scoring before top-down refinement and vectorized tiling, kept as the reference
the fast paths must equal: every row of every level evaluated, every feasible host ranked
lexicographically, and the tiling built rack by rack."""

import numpy as np

from envs.topology import Topology
from marl_alloc.floor.levels import LEVELS
from marl_alloc.serving.hierarchy import Tiling
from marl_alloc.serving.host_scores import scores_from_ranking
from marl_alloc.serving.kube_objects import NodeTable
from marl_alloc.serving.level_obs import LevelObservations


def loop_tile(table: NodeTable, racks_per_cluster: int, leaves_per_rack: int, hosts_per_leaf: int):
    """The Tiling of all of `table`'s nodes, rack by rack."""
    rack_slots = leaves_per_rack * hosts_per_leaf
    cluster_slots = racks_per_cluster * rack_slots
    n = len(table)
    if n == 0:
        empty = Topology(0, racks_per_cluster, leaves_per_rack, hosts_per_leaf)
        return Tiling(empty, np.zeros(0, np.int64))
    zones, racks = np.asarray(table.zones), np.asarray(table.racks)
    order = np.lexsort((np.asarray(table.names), racks, zones))
    zones, racks = zones[order], racks[order]
    new_rack = np.flatnonzero(
        np.r_[True, (zones[1:] != zones[:-1]) | (racks[1:] != racks[:-1]), True]
    )
    pieces: list[np.ndarray] = []
    zone_start = 0
    filled = 0
    for start, stop in zip(new_rack[:-1], new_rack[1:], strict=True):
        if start > 0 and zones[start] != zones[start - 1]:
            pad = -(filled - zone_start) % cluster_slots
            pieces.append(np.full(pad, -1, np.int64))
            filled += pad
            zone_start = filled
        size = -(-(stop - start) // rack_slots) * rack_slots
        block = np.full(size, -1, np.int64)
        block[: stop - start] = order[start:stop]
        pieces.append(block)
        filled += size
    pieces.append(np.full(-(filled - zone_start) % cluster_slots, -1, np.int64))
    node_of_slot = np.concatenate(pieces)
    clusters = len(node_of_slot) // cluster_slots
    top = Topology(clusters, racks_per_cluster, leaves_per_rack, hosts_per_leaf)
    return Tiling(top, node_of_slot)


def policy_ranking(q: dict[str, np.ndarray], feasible: np.ndarray, tiling: Tiling) -> np.ndarray:
    """Table rows of the feasible hosts, best first, by (cluster Q of the rack, rack Q of the
    leaf group, leaf Q of the host, slot)."""
    top = tiling.topology
    slots = np.flatnonzero(feasible & (tiling.node_of_slot >= 0))
    hosts_per_rack = top.leaves_per_rack * top.hosts_per_leaf
    cluster = slots // top.hosts_per_cluster
    vrack = slots // hosts_per_rack
    leaf = slots // top.hosts_per_leaf
    q_cluster = q["cluster"][cluster, vrack % top.racks_per_cluster]
    q_rack = q["rack"][vrack, leaf % top.leaves_per_rack]
    q_leaf = q["leaf"][leaf, slots % top.hosts_per_leaf]
    order = np.lexsort((slots, -q_leaf, -q_rack, -q_cluster))
    return tiling.node_of_slot[slots[order]]


def full_q(levels: LevelObservations, q_values) -> dict[str, np.ndarray]:
    """Every level's Q values on every row with a feasible action (-inf on the others);
    `q_values(level, obs)` evaluates observation rows."""
    out = {}
    for level in LEVELS:
        rows = levels.rows_with_action(level)
        full = np.full(levels.mask[level].shape, -np.inf, np.float32)
        if len(rows):
            full[rows] = q_values(level, levels.observations(level, rows))
        out[level] = full
    return out


def full_scores(
    q: dict[str, np.ndarray], feasible: np.ndarray, tiling: Tiling, num_rows: int
) -> np.ndarray:
    """Scores per table row from the full lexicographic ranking."""
    return scores_from_ranking(policy_ranking(q, feasible, tiling), num_rows)


def row_by_row(q_values):
    """`q_values` evaluated one row at a time: a row's Q values then do not depend on the
    batch it came in (matrix kernels round differently for different batch sizes)."""

    def one_at_a_time(level: str, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([q_values(level, obs[i : i + 1]) for i in range(len(obs))])

    return one_at_a_time
