"""Topology: index arithmetic for clusters > racks > leaf groups > hosts.

Hosts are numbered so each group is a contiguous block: host h sits in leaf h // hosts_per_leaf,
leaf l in rack l // leaves_per_rack, rack r in cluster r // racks_per_cluster. Per-group
reductions are therefore reshapes of the [B, H] host arrays, not loops.
"""

import dataclasses

import numpy as np

from marl_alloc.floor.settings.env import TopologyConfig


@dataclasses.dataclass(frozen=True)
class Topology:
    """Sizes of each level and the reshapes that group host arrays by rack or leaf."""

    num_clusters: int
    racks_per_cluster: int
    leaves_per_rack: int
    hosts_per_leaf: int

    @classmethod
    def from_config(cls, config: TopologyConfig) -> "Topology":
        """Topology with the config's fan-out."""
        return cls(**dataclasses.asdict(config))

    @property
    def num_actions(self) -> dict[str, int]:
        """Action count per level: a rack or deferral, a leaf group, a host."""
        return {
            "cluster": self.racks_per_cluster + 1,
            "rack": self.leaves_per_rack,
            "leaf": self.hosts_per_leaf,
        }

    @property
    def num_racks(self) -> int:
        return self.num_clusters * self.racks_per_cluster

    @property
    def num_leaves(self) -> int:
        return self.num_racks * self.leaves_per_rack

    @property
    def num_hosts(self) -> int:
        return self.num_leaves * self.hosts_per_leaf

    @property
    def hosts_per_rack(self) -> int:
        return self.leaves_per_rack * self.hosts_per_leaf

    @property
    def hosts_per_cluster(self) -> int:
        return self.racks_per_cluster * self.hosts_per_rack

    def agent_ids(self) -> list[str]:
        """RLlib agent ids: cluster_0.., rack_0.., leaf_0.. (level name, underscore, index)."""
        return (
            [f"cluster_{i}" for i in range(self.num_clusters)]
            + [f"rack_{i}" for i in range(self.num_racks)]
            + [f"leaf_{i}" for i in range(self.num_leaves)]
        )

    def by_rack(self, hosts: np.ndarray) -> np.ndarray:
        """[B, H] -> [B, racks, hosts_per_rack]."""
        return hosts.reshape(hosts.shape[0], self.num_racks, self.hosts_per_rack)

    def by_leaf(self, hosts: np.ndarray) -> np.ndarray:
        """[B, H] -> [B, leaves, hosts_per_leaf]."""
        return hosts.reshape(hosts.shape[0], self.num_leaves, self.hosts_per_leaf)

    def host_actions(self, host: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cluster, rack, leaf) actions that lead to the given global host ids."""
        host = np.asarray(host, np.int64)
        return (
            (host // self.hosts_per_rack) % self.racks_per_cluster,
            (host // self.hosts_per_leaf) % self.leaves_per_rack,
            host % self.hosts_per_leaf,
        )
