"""Host commitments: until when each host must stay on for the tasks placed on it, and the
overload a placement commits its host to.

What a placement does to energy shows when its host can, or can no longer, switch off:
idle_timeout_s after its last task ends, minutes to hours past the few seconds a discounted
n-step return sees. What it does to SLA shows the same way: a host it fills past capacity stays
overloaded for minutes (until the task ends or the next usage period migrates work away), each
second priced at w_sla per host-hour, of which the return sees a few seconds. So training streams
may charge a placement, when it is made, both (`reward.w_commit`): the idle energy it commits
its host to, and the overloaded host-time (the believed run, when the host's measured usage plus
the task's expected usage reaches capacity: the rule the observations and PABFD use; the
host's usage is the one env.knowledge.host_usage selects, envs/usage_forecast.py). A
deferral postpones a placement without avoiding it, so it pays what the task's cheapest
placement would commit to now (`would_commit`). Finite episodes never do, and report the true
cost. The observations show every host's commitment too
(envs/observations.py), so they are kept in every env. A migrated task's new host learns its
end; its old host keeps reading as committed until then (an overestimate that ends when the host
empties or the time passes).
Ends are the believed ones (envs/duration_knowledge.py): a task that outlives its estimate holds
its host on past `until`, which then reads as "free to switch off now".
"""

import numpy as np

from envs.dynamics import J_PER_KWH
from envs.hosts import OFF, HostArrays
from envs.slots import SlotTable


def would_overload(usage: np.ndarray, expected: np.ndarray, cpu_capacity: np.ndarray) -> np.ndarray:
    """Whether a task of expected usage `expected` takes hosts of measured `usage` to their
    capacity or beyond: the one overload rule for observing, ranking and charging placements."""
    return (usage + expected >= cpu_capacity) & (cpu_capacity > 0)


def overload_hours(
    usage: np.ndarray, expected: np.ndarray, cpu_capacity: np.ndarray, duration_s: np.ndarray
) -> np.ndarray:
    """Host-hours of overload placements commit their hosts to: the task's believed run where
    it would overload its host (usage before the placement), else 0."""
    return np.where(would_overload(usage, expected, cpu_capacity), duration_s, 0.0) / 3600.0


def held_and_added(
    until: np.ndarray, off: np.ndarray, now: np.ndarray, end_s: np.ndarray, timeout: float
) -> tuple[np.ndarray, np.ndarray]:
    """Until when a host stays on as it is (`now` if it sleeps), and how much longer a task
    ending at end_s would keep it on: the one rule for charging and observing commitments."""
    held = np.where(off, now, np.maximum(until, now))
    return held, np.maximum(end_s + timeout - held, 0.0)


class HostCommitments:
    """Per host, the time until which its tasks (plus the idle timeout) keep it on."""

    def __init__(self, hosts: HostArrays, running: SlotTable):
        timeout = hosts.idle_timeout_s
        self.until = np.where(hosts.power_state != OFF, hosts.idle_since_s + timeout, -np.inf)
        envs, slots = np.nonzero(running.active)
        on = (envs, running["host"][envs, slots])
        np.maximum.at(self.until, on, running["est_end_s"][envs, slots] + timeout)
        self._timeout = timeout
        self._idle_watts = hosts.power.idle_watts

    def commit_kwh(
        self, envs: np.ndarray, hosts: np.ndarray, end_s: np.ndarray, was_off: np.ndarray, now
    ) -> np.ndarray:
        """Record tasks ending at end_s on these (env, host) pairs; returns the idle kWh by
        which each placement extends its host's time on."""
        held, added = held_and_added(self.until[envs, hosts], was_off, now, end_s, self._timeout)
        self.until[envs, hosts] = held + added
        return added * self._idle_watts / J_PER_KWH

    def would_commit(
        self,
        envs: np.ndarray,
        hosts: HostArrays,
        usage: np.ndarray,
        expected: np.ndarray,
        duration_s: np.ndarray,
        now: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """([n, H] idle kWh, [n, H] overloaded host-hours) that placing each of these envs'
        pending task (expected usage, believed run: [n]) on each host would commit to now;
        `usage` [n, H]: the hosts' usage as the overcommit decisions read it."""
        off = hosts.power_state[envs] == OFF
        now, expected, duration_s = now[:, None], expected[:, None], duration_s[:, None]
        end_s = now + np.where(off, hosts.boot_delay_s, 0.0) + duration_s
        _, added = held_and_added(self.until[envs], off, now, end_s, self._timeout)
        overload_h = overload_hours(usage, expected, hosts.cpu_capacity[envs], duration_s)
        return added * self._idle_watts / J_PER_KWH, overload_h
