"""The pod-independent part of every group block, kept from call to call.

A cluster-level observation row holds a block per virtual rack of its cluster, a rack-level row
one per leaf group of its rack: at 5,000 nodes every call reduces some 16,000 host slots into
rack blocks. Nine of a block's 14 features describe the hosts alone (how full, how many on, the
largest free space: envs.observations.group_load_features), so they are computed once per layout
and then, when the node table changes (a node's annotations or usage, from the watch or a
request), again only for the racks and leaf groups one of whose hosts' columns changed. The five
placement features depend on the pod and are computed per call (marl_alloc.serving.level_obs).
"""

import dataclasses

import numpy as np

from envs.observations import group_load_features
from envs.topology import Topology
from marl_alloc.serving.hierarchy import HostColumns, Tiling


@dataclasses.dataclass(frozen=True)
class GroupLoads:
    """Load features (float64[groups, 9]) of every virtual rack and leaf group of a layout."""

    per_rack: np.ndarray
    per_leaf: np.ndarray


def group_loads(hosts: HostColumns, tiling: Tiling) -> GroupLoads:
    """The GroupLoads of these host columns, computed from scratch."""
    top = tiling.topology
    return GroupLoads(
        per_rack=_loads(hosts, top.num_racks),
        per_leaf=_loads(hosts, top.num_leaves),
    )


def _loads(hosts: HostColumns, groups: int, which: np.ndarray | None = None) -> np.ndarray:
    columns = [column.reshape(groups, -1) for column in hosts.as_tuple()]
    if which is not None:
        columns = [column[which] for column in columns]
    return group_load_features(*columns)


class GroupLoadCache:
    """The last layout's GroupLoads, brought up to date group by group (module docstring).

    A group's loads depend on its slots' host columns alone, whichever nodes sit there: so
    any layout of the same shape reuses the groups whose slots read the same."""

    def __init__(self):
        self._last: tuple[HostColumns, Topology, GroupLoads] | None = None

    def loads(self, hosts: HostColumns, tiling: Tiling) -> GroupLoads:
        """The GroupLoads of `hosts`, laid out by `tiling`."""
        last, top = self._last, tiling.topology
        if last is not None and last[0] is hosts:
            return last[2]
        if last is None or last[1] != top:  # another shape: nothing to reuse
            loads = group_loads(hosts, tiling)
        else:
            changed = np.zeros(top.num_hosts, bool)
            for new, old in zip(hosts.as_tuple(), last[0].as_tuple(), strict=True):
                changed |= new != old
            # New arrays, not writes into the old: a decision in the policy's thread may be
            # reading them.
            loads = GroupLoads(
                per_rack=_updated(last[2].per_rack, hosts, changed, top.num_racks),
                per_leaf=_updated(last[2].per_leaf, hosts, changed, top.num_leaves),
            )
        self._last = (hosts, top, loads)
        return loads


def _updated(old: np.ndarray, hosts: HostColumns, changed: np.ndarray, groups: int) -> np.ndarray:
    """`old` loads with the groups holding a changed slot computed again."""
    which = np.flatnonzero(changed.reshape(groups, -1).any(-1))
    if len(which) == 0:
        return old
    loads = old.copy()
    loads[which] = _loads(hosts, groups, which)
    return loads
