"""Host commitments: until when each host must stay on for the tasks placed on it.

What a placement does to energy shows when its host can, or can no longer, switch off:
idle_timeout_s after its last task ends, minutes to hours past the few seconds a discounted
n-step return sees. So training streams may charge a placement, when it is made, the idle
energy it commits its host to (`reward.w_commit`); finite episodes never do, and report the
true cost. The observations show every host's commitment too (envs/observations.py), so they
are kept in every env. A migrated task's new host learns its end; its old host keeps reading as
committed until then (an overestimate that ends when the host empties or the time passes).
Ends are the believed ones (envs/duration_knowledge.py): a task that outlives its estimate holds
its host on past `until`, which then reads as "free to switch off now".
"""

import numpy as np

from envs.dynamics import J_PER_KWH
from envs.hosts import OFF, HostArrays
from envs.slots import SlotTable


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
