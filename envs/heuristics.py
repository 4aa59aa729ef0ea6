"""Heuristic baselines: make_heuristic("best-fit@1.5", seed=0).act(env, level_obs) -> actions[B].

Each placement heuristic picks one host for the pending task when the cluster level acts, reading
the env's host arrays, and then returns the rack / leaf / host actions that lead to that host.
They defer a task only when no host can take it (the only action left). Host-level heuristics
also give `hosts(env)` for VectorDatacenterEnv.step_hosts, the whole cycle in one call.

A heuristic's packing target (NAME@TARGET) is how far it overcommits CPU: it places a task only
on hosts whose CPU requests stay within capacity * TARGET with it, falling back to every host
the env allows (up to env.hosts.cpu_overcommit_max) when none is left, so a sweep of targets
traces the heuristic's energy-SLA frontier without rejecting more tasks. Without a target it
packs to env.hosts.cpu_overcommit. Run times come from env.knowledge (the believed ones).
Where a boot outlasts the SLO (env.hosts.boot_delay_s > env.workload.slo_s, as in the
boot_minutes preset), they keep to hosts that would start the task in time while there are some,
as a scheduler places only on ready nodes; with the shipped env configs that never binds.
"""

import math

import numpy as np

from envs.errors import PolicySpecError
from envs.hosts import BOOTING, FIT_TOLERANCE, OFF, ON
from envs.observations import placement_scores
from envs.vector_env import LevelObs, VectorDatacenterEnv


class HostPlacement:
    """Base: subclasses score `candidates(env)` in `choose_host`; lower-level actions follow."""

    def __init__(self, seed: int = 0, target: float | None = None):
        self.rng = np.random.default_rng(seed)
        self.target = target
        self._host: np.ndarray | None = None

    def candidates(self, env: VectorDatacenterEnv) -> np.ndarray:
        """bool[B, H]: feasible hosts the pending task keeps within the packing target; every
        feasible host where none does."""
        h = env.hosts
        allowed = _in_time(env, env.feasible_hosts)
        target = self.target if self.target is not None else env.config.hosts.cpu_overcommit
        if target >= h.cpu_overcommit_max:
            return allowed
        limit = h.cpu_capacity * target + FIT_TOLERANCE - env.pending["cpu"][:, None]
        within = allowed & (h.cpu_requested <= limit)
        return np.where(within.any(axis=1, keepdims=True), within, allowed)

    def choose_host(self, env: VectorDatacenterEnv) -> np.ndarray:
        """int64[B]: a host in env.feasible_hosts per env (any value where there is none)."""
        raise NotImplementedError

    def hosts(self, env: VectorDatacenterEnv) -> np.ndarray:
        """int64[B]: the host for each env's pending task, -1 to defer it (no host fits)."""
        return np.where(env.feasible_hosts.any(axis=1), self.choose_host(env), -1)

    def act(self, env: VectorDatacenterEnv, level_obs: LevelObs) -> np.ndarray:
        """Actions of the acting level toward the host chosen at the cluster level."""
        if level_obs.level == "cluster" or self._host is None or len(self._host) != env.num_envs:
            self._host = self.choose_host(env)
        cluster, rack, leaf = env.topology.host_actions(self._host)
        if level_obs.level == "cluster":
            defer = env.topology.racks_per_cluster
            return np.where(env.feasible_hosts.any(axis=1), cluster, defer)
        return rack if level_obs.level == "rack" else leaf


def _in_time(env: VectorDatacenterEnv, feasible: np.ndarray) -> np.ndarray:
    """The feasible hosts that would start each pending task within its SLO, where a boot
    outlasts the SLO and some would; else `feasible` unchanged."""
    h, w = env.hosts, env.config.workload
    if h.boot_delay_s <= w.slo_s:
        return feasible
    p, now = env.pending, env.now[:, None]
    start = np.where(h.power_state == BOOTING, h.boot_done_s, now + h.boot_delay_s)
    start = np.where(h.power_state == ON, now, start)
    limit = np.where(p["deferrable"], w.deferrable_deadline_s, w.slo_s)
    in_time = feasible & (start - p["arrival_s"][:, None] <= limit[:, None])
    return np.where(in_time.any(axis=1, keepdims=True), in_time, feasible)


def _best(score: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Index of the lowest score among feasible hosts (first one on ties)."""
    return np.argmin(np.where(feasible, score, np.inf), axis=1)


def _most(score: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Index of the highest score among feasible hosts (first one on ties)."""
    return np.argmax(np.where(feasible, score, -np.inf), axis=1)


def _allocated_after(env: VectorDatacenterEnv) -> np.ndarray:
    """Mean of CPU and memory allocated fractions if the task went to each host."""
    h, p = env.hosts, env.pending
    # One O(hosts) pass per term: this runs once per placement on a 12.5k-host cell.
    after = h.inv_cpu * (0.5 * p["cpu"])[:, None]
    after += h.allocated()
    after += h.inv_mem * (0.5 * p["mem"])[:, None]
    return after


class RandomPolicy:
    """A uniformly random allowed action at every level (never defers while it can place)."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def act(self, env: VectorDatacenterEnv, level_obs: LevelObs) -> np.ndarray:
        """Random masked action per env."""
        mask = level_obs.action_mask.copy()
        if level_obs.level == "cluster":
            can_place = mask[:, :-1].any(axis=1)
            mask[can_place, -1] = False
        noise = self.rng.random(mask.shape)
        return np.argmax(np.where(mask, noise, -1.0), axis=1)


class FirstFit(HostPlacement):
    """The lowest-numbered host that fits."""

    def choose_host(self, env):
        return np.argmax(self.candidates(env), axis=1)


class RoundRobin(HostPlacement):
    """The next host that fits after the one used last, cycling over all hosts."""

    def choose_host(self, env):
        num_hosts = env.topology.num_hosts
        if getattr(self, "_next", None) is None or len(self._next) != env.num_envs:
            self._next = np.zeros(env.num_envs, np.int64)
        distance = (np.arange(num_hosts)[None, :] - self._next[:, None]) % num_hosts
        host = _best(distance.astype(np.float64), self.candidates(env))
        self._next = np.where(env.feasible_hosts.any(axis=1), (host + 1) % num_hosts, self._next)
        return host


class BestFit(HostPlacement):
    """The host left most allocated (Kubernetes MostAllocated): packs tightly."""

    def choose_host(self, env):
        return _most(_allocated_after(env), self.candidates(env))


class WorstFit(HostPlacement):
    """The host left least allocated (Kubernetes LeastAllocated): spreads load."""

    def choose_host(self, env):
        return _best(_allocated_after(env), self.candidates(env))


class PowerAwareBestFit(HostPlacement):
    """PABFD (Beloglazov & Buyya, CloudSim): least power increase among hosts the task would
    not overload at the mean usage factor (on the host usage env.knowledge.host_usage selects);
    a sleeping host costs its idle power too."""

    def choose_host(self, env):
        h, model = env.hosts, env.power_model
        expected = env.pending["cpu"] * env.config.workload.usage_factor_mean
        added = expected[:, None] * h.inv_cpu
        before = h.cpu_usage * h.inv_cpu
        after = before + added
        increase = model.watts(after) - np.where(h.power_state == OFF, 0.0, model.watts(before))
        allowed = self.candidates(env)
        # Overload is judged on the usage the env's overcommit features read (host_usage).
        safe = allowed & (env.overcommit_usage() * h.inv_cpu + added <= 1.0)
        candidates = np.where(safe.any(axis=1)[:, None], safe, allowed)
        # Ties (same power increase) go to the fullest host, as in best-fit decreasing.
        score = increase - 1e-3 * _allocated_after(env)
        return _best(score, candidates)


class LifetimeAwarePABFD(HostPlacement):
    """PABFD that also counts the idle time a placement keeps its host on: least added energy
    (the task's watts over its believed run, plus idle watts until the host could switch
    off)."""

    def choose_host(self, env):
        h = env.hosts
        columns = (h.cpu_capacity, h.mem_capacity, h.cpu_requested, h.mem_requested, h.cpu_usage)
        until, query = env.commitments.until, env.placement_query()
        scores = placement_scores(*columns, h.power_state, until, query, env.overcommit_usage())
        allowed = self.candidates(env)
        safe = allowed & ~scores.overloads
        candidates = np.where(safe.any(axis=1)[:, None], safe, allowed)
        return _best(scores.added_energy - 1e-6 * scores.allocated_after, candidates)


HEURISTICS: dict[str, type] = {
    "random": RandomPolicy,
    "round-robin": RoundRobin,
    "first-fit": FirstFit,
    "best-fit": BestFit,
    "worst-fit": WorstFit,
    "pabfd": PowerAwareBestFit,
    "lifetime-pabfd": LifetimeAwarePABFD,
}


def parse_heuristic(spec: str) -> tuple[str, float | None]:
    """(name, packing target or None) of a heuristic spec NAME or NAME@TARGET, e.g.
    "pabfd@2.0"; PolicySpecError (one line) for an unknown name or a malformed target."""
    name, at, target_text = str(spec).strip().partition("@")
    if name not in HEURISTICS:
        known = ", ".join(HEURISTICS)
        raise PolicySpecError(f"unknown policy '{name}' in '{spec}' (choose one of: {known})")
    if not at:
        return name, None
    if not issubclass(HEURISTICS[name], HostPlacement):
        raise PolicySpecError(f"policy '{name}' takes no packing target; write '{name}'")
    try:
        target = float(target_text)
    except ValueError:
        target = math.nan
    if not (math.isfinite(target) and target > 0):
        raise PolicySpecError(
            f"packing target in '{spec}' must be a positive number (CPU requests per unit of "
            "capacity), e.g. best-fit@1.5"
        )
    return name, target


def make_heuristic(spec: str, seed: int = 0) -> "HostPlacement | RandomPolicy":
    """The heuristic a spec NAME[@TARGET] names (see parse_heuristic)."""
    name, target = parse_heuristic(spec)
    if target is None:
        return HEURISTICS[name](seed=seed)
    return HEURISTICS[name](seed=seed, target=target)
