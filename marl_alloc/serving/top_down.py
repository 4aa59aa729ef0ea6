"""The policy's scores for the feasible hosts, from as few Q values as the scores depend on.

The hierarchical policy places a task greedily: the cluster level picks the rack with the
highest Q, the rack level the leaf group, the leaf level the host. Ranking every feasible host by
(cluster-level Q of its rack, rack-level Q of its leaf group, leaf-level Q of the host, slot),
lexicographically, puts that greedy choice first and orders the rest as the policy would fall
back; with several virtual clusters (zones, or more racks than the policy's R) their
cluster-level Q values are compared directly. Scores follow the rank in ten steps
(host_scores.rank_scores), so at 5,000 hosts some 600 neighbours in the ranking share a score.

So the ranking is refined top-down and only where a score depends on it: the hosts start as one
group holding ranks [0, m); each level's Q values split the groups still open into runs of equal
Q, in the ranking's order, each run holding the next ranks of its group; a group whose ranks all
score the same is settled and needs no lower level. Only the rack and leaf rows of hosts in open
groups are evaluated: about one virtual rack and one leaf group per score step. The scores are
those of the full lexicographic ranking, ties included.
"""

import numpy as np

from envs.topology import Topology
from marl_alloc.serving.hierarchy import Tiling
from marl_alloc.serving.host_scores import rank_scores


def _actions_per_row(top: Topology) -> dict[str, tuple[int, int]]:
    """(host slots under one row, host slots under one action) per level."""
    hosts_per_rack = top.leaves_per_rack * top.hosts_per_leaf
    return {
        "cluster": (top.hosts_per_cluster, hosts_per_rack),
        "rack": (hosts_per_rack, top.hosts_per_leaf),
        "leaf": (top.hosts_per_leaf, 1),
    }


class TopDownRanking:
    """Scores of one call's feasible hosts, refined level by level (see the module docstring)."""

    def __init__(self, feasible: np.ndarray, tiling: Tiling):
        self.tiling = tiling
        self.slots = np.flatnonzero(feasible & (tiling.node_of_slot >= 0))
        self.m = m = len(self.slots)
        self._span = _actions_per_row(tiling.topology)
        self.first = np.zeros(m, np.int64)  # the first rank of each host's group
        self.last = np.full(m, m - 1, np.int64)  # and its last
        self.open = self._unsettled(self.first, self.last)

    def _unsettled(self, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Whether groups of these first and last ranks span ranks of different scores."""
        return rank_scores(first, self.m) != rank_scores(last, self.m)

    def rows(self, level: str) -> np.ndarray:
        """The rows of `level` (ascending) whose Q values the open groups need."""
        per_row, _ = self._span[level]
        rows = self.slots[self.open] // per_row  # ascending, as the slots are: no sort needed
        return rows[np.r_[True, rows[1:] != rows[:-1]]] if len(rows) else rows

    def refine(self, level: str, rows: np.ndarray, q: np.ndarray) -> None:
        """Split the open groups by `level`'s Q values `q` of `rows` (float[len(rows), A])."""
        per_row, per_action = self._span[level]
        hosts = np.flatnonzero(self.open)
        unit = self.slots[hosts] // per_action
        starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]]) if len(unit) else unit
        slot = unit[starts] * per_action
        row = np.searchsorted(rows, slot // per_row)
        self._split(hosts, starts, -q[row, (slot % per_row) // per_action])

    def scores(self, num_rows: int) -> np.ndarray:
        """int64[num_rows]: the score of each table row: its rank's for a feasible host (ties
        left after the leaf level go by slot, as in the full ranking), else 0."""
        hosts = np.flatnonzero(self.open)
        self._split(hosts, np.arange(len(hosts)), self.slots[hosts])
        scores = np.zeros(num_rows, np.int64)
        scores[self.tiling.node_of_slot[self.slots]] = rank_scores(self.first, self.m)
        return scores

    def _split(self, hosts: np.ndarray, starts: np.ndarray, key: np.ndarray) -> None:
        """Order the open groups' `hosts` within their groups by `key`, ascending; runs of equal
        key become groups of their own. The hosts come in units, hosts[starts[i]:starts[i+1]],
        all under one action of the level, so in one group and of one key (`key[i]`): sorting
        the units (a few hundred virtual racks at the cluster level) orders their hosts."""
        if len(hosts) == 0:
            return
        size = np.diff(np.r_[starts, len(hosts)])
        group = self.first[hosts[starts]]
        order = np.lexsort((key, group))  # stable: equal keys stay in slot order
        group, key, sorted_size = group[order], key[order], size[order]
        new_group = np.r_[True, group[1:] != group[:-1]]
        new_run = new_group | np.r_[True, key[1:] != key[:-1]]
        at = np.cumsum(sorted_size) - sorted_size  # each unit's first place in the order
        group_start = np.maximum.accumulate(np.where(new_group, at, 0))
        run_start = np.maximum.accumulate(np.where(new_run, at, 0))
        run = np.cumsum(new_run) - 1
        first = np.empty(len(order), np.int64)
        first[order] = group + run_start - group_start
        last = np.empty(len(order), np.int64)
        last[order] = first[order] + np.bincount(run, sorted_size)[run].astype(np.int64) - 1
        self.first[hosts] = np.repeat(first, size)
        self.last[hosts] = np.repeat(last, size)
        self.open[hosts] = np.repeat(self._unsettled(first, last), size)
