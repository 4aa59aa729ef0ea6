"""PowerManager: the leaf groups' power decision, `env.power.manager=forecast`.

A rule-based decision of the leaf level, fed by the demand forecast, not learned (making it an
action of the leaf agents is follow-up work). Every `period_s`, for each leaf group of each env
at once, it sets how much CPU capacity to keep on or booting:

    keep = (1 + headroom) x max(requested CPU now, the most the forecast slots expect)
           / hosts.cpu_overcommit

The forecast slots (`env.forecast`, filled by the policy's forecaster or, in the oracle ablation,
by envs/oracle_forecast.py; zeros when forecasts are off) hold the group's total requested CPU per
coming bin over its CPU capacity, running tasks included: so the rule takes their maximum, not a
sum with what is requested now, and without forecasts it keeps only what is requested now (the
oracle's it computes as of the control boundary, so both of the env's stepping paths see one). A
preset whose slots look as far ahead as a boot takes (forecast_horizon x bin >= boot_delay_s)
lets it wake hosts before the demand arrives. Hosts count toward `keep` in this order: those
running tasks, then idle ON ones, then booting ones, then OFF ones, which it wakes (they boot
for hosts.boot_delay_s at idle watts). The hosts it keeps skip the idle timer; the others sleep
on it as under `timeout` (envs/hosts.py sleep_idle).
"""

from typing import Any

import numpy as np

from envs.hosts import BOOTING, OFF, ON, HostArrays
from envs.topology import Topology
from marl_alloc.floor.settings.env import HostConfig, PowerConfig

# Which hosts count toward the capacity kept first: busy, idle on, booting, off, no machine.
_BUSY, _IDLE_ON, _BOOTING, _OFF, _ABSENT = range(5)


class PowerManager:
    """Keeps each leaf group's forecast capacity on, at control boundaries `next_s` [B]."""

    def __init__(
        self, config: PowerConfig, hosts: HostConfig, topology: Topology, start_s: np.ndarray
    ):
        self.period_s = float(config.period_s)
        # Capacity kept per unit of expected requested CPU: the headroom on top, less what
        # overcommit lets a host take (heuristics pack requests to capacity x cpu_overcommit).
        self.scale = (1.0 + config.headroom) / hosts.cpu_overcommit
        self.topology = topology
        self.next_s = np.asarray(start_s, np.float64) + self.period_s

    def control(self, sim: Any, envs: np.ndarray) -> None:
        """At sim.now of `envs` (indices; a VectorDatacenterEnv): choose the hosts to keep on,
        wake the OFF ones among them, and let the idle timer look again at the others."""
        if sim.oracle_forecast is not None:
            # As of now, not as of the last observation (the heuristics' fast path builds none).
            forecast = sim.oracle_forecast.leaf_demand(sim, envs)
        else:
            forecast = sim.forecast[envs]
        hosts = sim.hosts
        keep = self.kept_hosts(hosts, forecast, envs)
        hosts.kept_on[envs] = keep
        env_pos, host = np.nonzero(keep & (hosts.power_state[envs] == OFF))
        if host.size:
            hosts.power_on(envs[env_pos], host, sim.now)
        # Hosts no longer kept may be past their idle timeout already: an alarm now.
        hosts.next_sleep_s[envs] = np.minimum(hosts.next_sleep_s[envs], sim.now[envs])
        self.next_s[envs] = sim.now[envs] + self.period_s

    def kept_hosts(self, hosts: HostArrays, forecast: np.ndarray, envs: np.ndarray) -> np.ndarray:
        """bool[n, H]: per leaf group of `envs`, the fewest hosts in the order busy, idle on,
        booting, off whose CPU capacity covers the group's target (see the module docstring)."""
        top = self.topology
        capacity = top.by_leaf(hosts.cpu_capacity[envs])  # [n, leaves, hosts_per_leaf]
        requested = top.by_leaf(hosts.cpu_requested[envs]).sum(-1)
        expected = requested
        if forecast.shape[-1]:
            expected = np.maximum(requested, forecast.max(-1) * capacity.sum(-1))
        target = self.scale * expected
        state = top.by_leaf(hosts.power_state[envs])
        rank = np.select(
            [
                capacity <= 0,
                top.by_leaf(hosts.num_tasks[envs]) > 0,
                state == ON,
                state == BOOTING,
            ],
            [_ABSENT, _BUSY, _IDLE_ON, _BOOTING],
            _OFF,
        )
        order = np.argsort(rank, axis=-1, kind="stable")
        ordered = np.take_along_axis(capacity, order, axis=-1)
        covered_before = np.cumsum(ordered, axis=-1) - ordered
        keep_ordered = (covered_before < target[..., None]) & (ordered > 0)
        keep = np.empty_like(keep_ordered)
        np.put_along_axis(keep, order, keep_ordered, axis=-1)
        return keep.reshape(len(envs), -1)
