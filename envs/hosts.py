"""HostArrays: every host of B datacenters as [B, H] numpy columns, with running totals.

Besides the per-host columns it keeps, per env, the sums the simulator integrates over time
(power, hosts on, overloaded hosts, CPU usage, ...) in `rates`, and updates them only for the
hosts an event touches: advancing time costs O(B) and an event O(hosts it changes), not O(B*H),
which is what lets one datacenter the size of a Google cell (12.5k hosts) replay a trace fast.
Every mutation goes through the methods below so the totals stay in step with the columns.
A slot without a machine (a cell smaller than the topology) has zero capacity and never fits.
"""

import numpy as np

from envs.power import PowerModel
from marl_alloc.floor.settings.env import HostConfig

OFF, BOOTING, ON = 0, 1, 2
# Requests are sums of float32 values; allow for rounding when checking a fit.
FIT_TOLERANCE = 1e-6
# Per-env totals over hosts, integrated over time by envs.dynamics.integrate.
RATES = ("watts", "on", "overloaded", "usage", "excess", "utilization", "requested")
WATTS, HOSTS_ON, OVERLOADED, USAGE, EXCESS, UTILIZATION, REQUESTED = range(len(RATES))
COLUMNS = (
    "cpu_capacity",
    "mem_capacity",
    "cpu_limit",
    "mem_limit",
    "cpu_requested",
    "mem_requested",
    "cpu_usage",
    "num_tasks",
    "power_state",
    "boot_done_s",
    "idle_since_s",
    "next_boot_s",
    "next_sleep_s",
    "kept_on",
    "host_rates",
    "rates",
)


class HostArrays:
    """Capacity, requested and used resources, power state and timers per host; per-env totals.

    cpu_limit / mem_limit: what a host may be allotted (capacity * cpu_overcommit_max or
    mem_overcommit, + tolerance; -1 for an empty slot). cpu_usage: sum of its tasks' current
    usage (counted once the host is on).
    next_boot_s / next_sleep_s [B]: earliest time a boot may complete / an idle host may sleep
    (a lower bound: an early alarm only costs a scan that finds nothing).
    kept_on [B, H]: hosts the power manager keeps on (envs/power_manager.py): the idle timer
    does not switch them off.
    """

    def __init__(self, columns: dict[str, np.ndarray], power: PowerModel, hosts: HostConfig):
        for name in COLUMNS:
            setattr(self, name, columns[name])
        self.power = power
        self.boot_delay_s = hosts.boot_delay_s
        self.idle_timeout_s = hosts.idle_timeout_s
        self.cpu_overcommit_max = hosts.cpu_overcommit_max
        self.mem_overcommit = hosts.mem_overcommit
        present = self.cpu_capacity > 0
        self.inv_cpu = np.where(present, 1.0 / np.where(present, self.cpu_capacity, 1.0), 0.0)
        present_mem = self.mem_capacity > 0
        self.inv_mem = np.where(present_mem, 1.0 / np.where(present_mem, self.mem_capacity, 1.0), 0)
        # What may be allotted, for observations (cpu_limit adds the fit tolerance).
        self.cpu_alloc = self.cpu_capacity * self.cpu_overcommit_max
        self.mem_alloc = self.mem_capacity * self.mem_overcommit
        self._refresh_free(slice(None))

    @classmethod
    def empty(
        cls,
        cpu_capacity: np.ndarray,
        mem_capacity: np.ndarray,
        power: PowerModel,
        hosts: HostConfig,
    ) -> "HostArrays":
        """Hosts with these capacities (0: no machine in this slot), no tasks, all off."""
        shape = cpu_capacity.shape
        zeros = np.zeros(shape, np.float64)
        present = (cpu_capacity > 0) & (mem_capacity > 0)
        return cls(
            {
                "cpu_capacity": np.where(present, cpu_capacity, 0.0).astype(np.float64),
                "mem_capacity": np.where(present, mem_capacity, 0.0).astype(np.float64),
                "cpu_limit": np.where(
                    present, cpu_capacity * hosts.cpu_overcommit_max + FIT_TOLERANCE, -1.0
                ),
                "mem_limit": np.where(
                    present, mem_capacity * hosts.mem_overcommit + FIT_TOLERANCE, -1.0
                ),
                "cpu_requested": zeros.copy(),
                "mem_requested": zeros.copy(),
                "cpu_usage": zeros.copy(),
                "num_tasks": np.zeros(shape, np.int32),
                "power_state": np.full(shape, OFF, np.int8),
                "boot_done_s": zeros.copy(),
                "idle_since_s": zeros.copy(),
                "next_boot_s": np.full(shape[0], np.inf),
                "next_sleep_s": np.full(shape[0], np.inf),
                "kept_on": np.zeros(shape, bool),
                "host_rates": np.zeros((*shape, len(RATES))),
                "rates": np.zeros((shape[0], len(RATES))),
            },
            power,
            hosts,
        )

    # ---- queries ------------------------------------------------------------------------------

    def fits(self, cpu: np.ndarray, mem: np.ndarray) -> np.ndarray:
        """[B, H]: host can take a task requesting cpu[b], mem[b] (a sleeping host counts)."""
        return (self.cpu_free >= cpu[:, None]) & (self.mem_free >= mem[:, None])

    def allocated(self) -> np.ndarray:
        """[B, H]: mean of the CPU and memory shares of capacity requested (0 for no machine);
        kept up to date, not computed per call."""
        return self.allocated_share

    # ---- mutations ----------------------------------------------------------------------------

    def place(self, envs, hosts, cpu, mem, usage) -> None:
        """Add one task to each (env, host) pair; envs are distinct."""
        self.cpu_requested[envs, hosts] += cpu
        self.mem_requested[envs, hosts] += mem
        self.cpu_usage[envs, hosts] += usage
        self.num_tasks[envs, hosts] += 1
        self.refresh(envs, hosts, distinct_envs=True)

    def add_many(self, envs, hosts, cpu, mem, usage, sign: int = 1, now=None) -> np.ndarray:
        """Add (sign=1) or remove (sign=-1) tasks; (env, host) pairs may repeat. Hosts left
        empty start their idle timer at now[env]. Returns the distinct flat host indices."""
        num_hosts = self.cpu_requested.shape[1]
        flat, inverse = np.unique(envs * num_hosts + hosts, return_inverse=True)
        for column, values in (
            (self.cpu_requested, cpu),
            (self.mem_requested, mem),
            (self.cpu_usage, usage),
        ):
            column.reshape(-1)[flat] += sign * np.bincount(inverse, values, len(flat))
        counts = np.bincount(inverse, None, len(flat)).astype(np.int32)
        tasks = self.num_tasks.reshape(-1)
        tasks[flat] += sign * counts
        empty = flat[tasks[flat] == 0]
        # Sums of float32 requests drift; an empty host holds exactly nothing.
        for column in (self.cpu_requested, self.mem_requested, self.cpu_usage):
            column.reshape(-1)[empty] = 0.0
        if sign < 0 and empty.size:
            env = empty // num_hosts
            self.idle_since_s.reshape(-1)[empty] = now[env]
            np.minimum.at(self.next_sleep_s, env, now[env] + self.idle_timeout_s)
        self.refresh(flat // num_hosts, flat % num_hosts)
        return flat

    def wake(self, envs, hosts, now) -> None:
        """Start booting the OFF hosts among the (distinct-env) pairs; the caller refreshes
        them (placing a task does)."""
        off = self.power_state[envs, hosts] == OFF
        if not off.any():
            return
        envs, hosts = envs[off], hosts[off]
        self.power_state[envs, hosts] = BOOTING
        done = now[envs] + self.boot_delay_s
        self.boot_done_s[envs, hosts] = done
        self.next_boot_s[envs] = np.minimum(self.next_boot_s[envs], done)

    def power_on(self, envs: np.ndarray, hosts: np.ndarray, now: np.ndarray) -> None:
        """Start booting these OFF (env, host) pairs (envs may repeat) with no task waiting: each
        counts as idle from when its boot completes."""
        done = now[envs] + self.boot_delay_s
        self.power_state[envs, hosts] = BOOTING
        self.boot_done_s[envs, hosts] = done
        self.idle_since_s[envs, hosts] = done
        np.minimum.at(self.next_boot_s, envs, done)
        self.refresh(envs, hosts)

    def finish_boots(self, envs: np.ndarray, now: np.ndarray) -> None:
        """Booting hosts of `envs` (indices) whose boot is done by now turn ON."""
        state = self.power_state[envs]
        booting = state == BOOTING
        done = booting & (self.boot_done_s[envs] <= now[envs, None])
        env_pos, host = np.nonzero(done)
        self.power_state[envs[env_pos], host] = ON
        self.refresh(envs[env_pos], host)
        still = booting & ~done
        self.next_boot_s[envs] = np.where(still, self.boot_done_s[envs], np.inf).min(axis=1)

    def sleep_idle(self, envs: np.ndarray, now: np.ndarray) -> None:
        """ON hosts of `envs` (indices) that have been empty for idle_timeout_s switch off, unless
        the power manager keeps them on."""
        idle = (self.power_state[envs] == ON) & (self.num_tasks[envs] == 0) & ~self.kept_on[envs]
        wake_up = self.idle_since_s[envs] + self.idle_timeout_s
        asleep = idle & (wake_up <= now[envs, None])
        env_pos, host = np.nonzero(asleep)
        self.power_state[envs[env_pos], host] = OFF
        self.refresh(envs[env_pos], host)
        self.next_sleep_s[envs] = np.where(idle & ~asleep, wake_up, np.inf).min(axis=1)

    def switch_on(self, mask: np.ndarray) -> None:
        """Hosts where mask is True are ON now (warm start)."""
        self.power_state[mask] = ON
        self.refresh_rows(np.arange(self.cpu_capacity.shape[0]))

    # ---- running totals -------------------------------------------------------------------

    def _host_rates(self, state, cap, inv, usage, requested) -> np.ndarray:
        on = state == ON
        utilization = usage * inv
        watts = self.power.watts(utilization) * on
        watts += (state == BOOTING) * self.power.idle_watts
        return np.stack(
            [
                watts,
                on,
                on & (usage >= cap),
                usage * on,
                np.maximum(usage - cap, 0.0) * on,
                np.minimum(utilization, 1.0) * on,
                requested * on,
            ],
            axis=-1,
        )

    def _refresh_free(self, index) -> None:
        """cpu_free, mem_free (what still fits) and allocated_share of the indexed hosts
        (a slice, env rows, or flat host indices)."""
        if isinstance(index, slice):
            self.cpu_free = self.cpu_limit - self.cpu_requested
            self.mem_free = self.mem_limit - self.mem_requested
            self.allocated_share = 0.5 * (
                self.cpu_requested * self.inv_cpu + self.mem_requested * self.inv_mem
            )
            return
        cpu, mem = self.cpu_requested[index], self.mem_requested[index]
        self.cpu_free[index] = self.cpu_limit[index] - cpu
        self.mem_free[index] = self.mem_limit[index] - mem
        self.allocated_share[index] = 0.5 * (cpu * self.inv_cpu[index] + mem * self.inv_mem[index])

    def refresh(self, envs: np.ndarray, hosts: np.ndarray, distinct_envs: bool = False) -> None:
        """Recompute the totals' share of these distinct (env, host) pairs."""
        if len(envs) == 0:
            return
        # Flat views: one index array instead of two makes each gather and scatter cheaper.
        flat = envs * self.cpu_capacity.shape[1] + hosts
        new = self._host_rates(
            self.power_state.reshape(-1)[flat],
            self.cpu_capacity.reshape(-1)[flat],
            self.inv_cpu.reshape(-1)[flat],
            self.cpu_usage.reshape(-1)[flat],
            self.cpu_requested.reshape(-1)[flat],
        )
        host_rates = self.host_rates.reshape(-1, len(RATES))
        delta = new - host_rates[flat]
        host_rates[flat] = new
        if distinct_envs:
            self.rates[envs] += delta
        else:
            np.add.at(self.rates, envs, delta)
        cpu = self.cpu_requested.reshape(-1)[flat]
        mem = self.mem_requested.reshape(-1)[flat]
        self.cpu_free.reshape(-1)[flat] = self.cpu_limit.reshape(-1)[flat] - cpu
        self.mem_free.reshape(-1)[flat] = self.mem_limit.reshape(-1)[flat] - mem
        self.allocated_share.reshape(-1)[flat] = 0.5 * (
            cpu * self.inv_cpu.reshape(-1)[flat] + mem * self.inv_mem.reshape(-1)[flat]
        )

    def refresh_rows(self, envs: np.ndarray) -> None:
        """Recompute every host of `envs` (indices) and their totals exactly (no drift)."""
        self.host_rates[envs] = self._host_rates(
            self.power_state[envs],
            self.cpu_capacity[envs],
            self.inv_cpu[envs],
            self.cpu_usage[envs],
            self.cpu_requested[envs],
        )
        self.rates[envs] = self.host_rates[envs].sum(axis=1)
        self._refresh_free(envs)

    # ---- one host at a time (one datacenter, envs.single) ------------------------------------

    def place_one(self, env: int, host: int, cpu: float, mem: float, usage: float) -> None:
        """Add one task to one host."""
        self.cpu_requested[env, host] += cpu
        self.mem_requested[env, host] += mem
        self.cpu_usage[env, host] += usage
        self.num_tasks[env, host] += 1
        self.refresh_one(env, host)

    def remove_one(
        self, env: int, host: int, cpu: float, mem: float, usage: float, now: float
    ) -> None:
        """Take one task off one host; an emptied host starts its idle timer at now."""
        left = int(self.num_tasks[env, host]) - 1
        self.num_tasks[env, host] = left
        if left == 0:
            self.cpu_requested[env, host] = 0.0
            self.mem_requested[env, host] = 0.0
            self.cpu_usage[env, host] = 0.0
            self.idle_since_s[env, host] = now
            wake_up = now + self.idle_timeout_s
            if wake_up < self.next_sleep_s[env]:
                self.next_sleep_s[env] = wake_up
        else:
            self.cpu_requested[env, host] -= cpu
            self.mem_requested[env, host] -= mem
            self.cpu_usage[env, host] -= usage
        self.refresh_one(env, host)

    def refresh_one(self, env: int, host: int) -> None:
        """`refresh` of one host with Python scalars (no array temporaries)."""
        state = self.power_state[env, host]
        cap = float(self.cpu_capacity[env, host])
        inv = float(self.inv_cpu[env, host])
        usage = float(self.cpu_usage[env, host])
        requested = float(self.cpu_requested[env, host])
        if state == ON:
            utilization = usage * inv
            new = (
                self.power.watts_one(utilization),
                1.0,
                float(usage >= cap),
                usage,
                max(usage - cap, 0.0),
                min(utilization, 1.0),
                requested,
            )
        else:
            idle = self.power.idle_watts if state == BOOTING else 0.0
            new = (idle, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        old = self.host_rates[env, host].tolist()
        self.host_rates[env, host] = new
        rates = self.rates[env]
        total = rates.tolist()
        rates[:] = [t + (n - o) for t, n, o in zip(total, new, old, strict=True)]
        mem = float(self.mem_requested[env, host])
        self.cpu_free[env, host] = self.cpu_limit[env, host] - requested
        self.mem_free[env, host] = self.mem_limit[env, host] - mem
        self.allocated_share[env, host] = 0.5 * (requested * inv + mem * self.inv_mem[env, host])

    # ---- resumable state ----------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of all columns (totals included, so a resumed run matches bit for bit)."""
        return {name: getattr(self, name).copy() for name in COLUMNS}

    @classmethod
    def from_state(
        cls, state: dict[str, np.ndarray], power: PowerModel, hosts: HostConfig
    ) -> "HostArrays":
        """Inverse of `get_state`."""
        return cls({name: np.array(state[name]) for name in COLUMNS}, power, hosts)


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
