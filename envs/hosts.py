"""HostArrays: every host of B datacenters as [B, H] numpy columns."""

import dataclasses

import numpy as np

from envs.config import HostConfig

OFF, BOOTING, ON = 0, 1, 2
# Requests are sums of float32 values; allow for rounding when checking a fit.
FIT_TOLERANCE = 1e-6


@dataclasses.dataclass
class HostArrays:
    """Capacity, requested and used resources, power state and idle timer per host."""

    cpu_capacity: np.ndarray
    mem_capacity: np.ndarray
    cpu_requested: np.ndarray
    mem_requested: np.ndarray
    cpu_usage: np.ndarray  # sum of placed tasks' actual usage (counted once the host is on)
    num_tasks: np.ndarray
    power_state: np.ndarray  # OFF, BOOTING or ON
    boot_done_s: np.ndarray  # when a BOOTING host turns ON
    idle_since_s: np.ndarray  # when an ON host last became empty

    @classmethod
    def empty(cls, cpu_capacity: np.ndarray, mem_capacity: np.ndarray) -> "HostArrays":
        """Hosts with these capacities, no tasks, all off."""
        zeros = np.zeros(cpu_capacity.shape, np.float64)
        return cls(
            cpu_capacity=cpu_capacity.astype(np.float64),
            mem_capacity=mem_capacity.astype(np.float64),
            cpu_requested=zeros.copy(),
            mem_requested=zeros.copy(),
            cpu_usage=zeros.copy(),
            num_tasks=np.zeros(cpu_capacity.shape, np.int32),
            power_state=np.full(cpu_capacity.shape, OFF, np.int8),
            boot_done_s=zeros.copy(),
            idle_since_s=zeros.copy(),
        )

    def fits(self, cpu: np.ndarray, mem: np.ndarray) -> np.ndarray:
        """[B, H]: host can take a task requesting cpu[b], mem[b] (a sleeping host counts)."""
        return (self.cpu_requested + cpu[:, None] <= self.cpu_capacity + FIT_TOLERANCE) & (
            self.mem_requested + mem[:, None] <= self.mem_capacity + FIT_TOLERANCE
        )

    def place(self, envs, hosts, cpu, mem, usage) -> None:
        """Add one task to each (env, host) pair; envs are distinct."""
        self.cpu_requested[envs, hosts] += cpu
        self.mem_requested[envs, hosts] += mem
        self.cpu_usage[envs, hosts] += usage
        self.num_tasks[envs, hosts] += 1

    def add_many(self, envs, hosts, cpu, mem, usage, sign: int = 1) -> None:
        """Add (sign=1) or remove (sign=-1) tasks; (env, host) pairs may repeat."""
        size = self.cpu_requested.size
        flat = envs * self.cpu_requested.shape[1] + hosts
        for column, values in (
            (self.cpu_requested, cpu),
            (self.mem_requested, mem),
            (self.cpu_usage, usage),
        ):
            column += sign * np.bincount(flat, values, size).reshape(column.shape)
        counts = np.bincount(flat, None, size).reshape(self.num_tasks.shape)
        self.num_tasks += (sign * counts).astype(np.int32)
        # Sums of float32 requests drift; an empty host holds exactly nothing.
        empty = self.num_tasks == 0
        for column in (self.cpu_requested, self.mem_requested, self.cpu_usage):
            column[empty] = 0.0

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of all columns."""
        return {f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> "HostArrays":
        """Inverse of `get_state`."""
        return cls(**{f.name: np.array(state[f.name]) for f in dataclasses.fields(cls)})


def draw_capacities(
    workload, hosts: HostConfig, rngs: list[np.random.Generator], num_hosts: int
) -> tuple[np.ndarray, np.ndarray]:
    """[B, H] cpu and mem capacities: the workload's machines if it has some, else drawn from
    hosts.cpu_capacity_choices / mem_capacity_choices; one rng per env."""
    cpu, mem = [], []
    for rng in rngs:
        drawn = workload.host_capacities(rng, num_hosts)
        if drawn is None:
            drawn = (
                rng.choice(hosts.cpu_capacity_choices, num_hosts),
                rng.choice(hosts.mem_capacity_choices, num_hosts),
            )
        cpu.append(drawn[0])
        mem.append(drawn[1])
    return np.stack(cpu), np.stack(mem)
