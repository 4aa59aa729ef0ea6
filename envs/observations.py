"""Per-level observation vectors (float32, fixed size per level).

Every level's vector is [per-child features..., task (7), time (2), carbon (1), forecast (F)]:

- cluster: one block of 14 per rack of the task's cluster,
- rack: one block of 14 per leaf group of the chosen rack,
- leaf: one block of 14 per host of the chosen leaf group.

Group block (rack or leaf group), over its hosts:
  [requested cpu / cpu capacity, requested mem / mem capacity, cpu usage / cpu capacity,
   share of hosts on or booting, max free cpu on one host, max free mem on one host,
   share of hosts overloaded, max free cpu on one switched-on host, max cpu usage headroom
   (capacity - usage) on one switched-on host,
   share of hosts the task fits, share it fits without overloading them, the highest allocated
   share after placement among those it fits, the least power increase and the least added
   energy among PABFD's candidates (the hosts it fits without overloading, else all it fits)]
Host block:
  [requested cpu / capacity, requested mem / capacity, usage / capacity, on, booting,
   free cpu, free mem, would overload if the task ran there at the mean usage factor,
   the task fits, allocated share after placement, power increase, time the host is held on
   already, time the task would add to that, added energy]
Task: [cpu, mem, log1p(believed run time) / 10, its uncertainty (log-space sigma),
  priority / max priority, deferrable, defers used / max]. The run time is what
  env.knowledge.durations lets a decision assume (an online estimate by default; never the true
  run time unless the oracle ablation is asked for), and every run time below is that one.
Time: [sin, cos] of the time of day. Carbon: intensity / the series' mean; with
env.carbon.forecast set, then the outlook of a deferral (envs/carbon.py): the intensity forecast
at the deferred task's return and the lowest over its possible returns, each / the mean.
Forecast: the forecaster's next-F demand per leaf group (`VectorDatacenterEnv.set_forecast`),
averaged over the leaf groups under the acting agent; zeros until one is set.
The overload features (a host's overload flag, the share of hosts the task fits without
overloading them, PABFD's candidates, the max usage headroom) read the host usage
env.knowledge.host_usage selects (envs/usage_forecast.py): the current one by default, or a
forecast over the next usage periods from the running tasks' observed usage.
Free resources are in capacity units (largest machine = 1.0): what may still be allotted
(capacity * overcommit - requested). A host slot without a machine reads as all zeros.

The placement features are what best-fit and PABFD rank hosts by (the mean of CPU and memory
allocated shares if the task went there; watts added at the mean usage factor, a sleeping host's
idle watts included, over the model's peak watts), and what they leave out: a host stays on until
idle_timeout_s after its last task ends (envs/commitment.py), so a task that outlives a host's
current tasks keeps it on longer, and one that ends sooner costs no idle time. Times are
log1p(seconds) / 10 like the task's duration; added energy (the task's dynamic watts over its
duration plus idle watts over the time it adds) is log1p of peak-watt-hours. A group carries its
best host's figures, so every level sees where the task packs best, not only how full its
children are. Where the task fits nowhere these read 0, as the feasible share does.
"""

import dataclasses

import numpy as np

from envs.commitment import held_and_added, would_overload
from envs.hosts import BOOTING, OFF, ON, HostArrays
from envs.power import PowerModel
from envs.topology import Topology

GROUP_FEATURES = 14
HOST_FEATURES = 14
TASK_FEATURES = 7
CONTEXT_FEATURES = 3  # sin, cos of time of day; carbon intensity
DAY_S = 86400.0
LOG_DURATION_SCALE = 10.0
S_PER_H = 3600.0


TINY = 1e-9  # divides empty host slots' zeros by something


@dataclasses.dataclass(frozen=True)
class PlacementQuery:
    """The pending task of each row ([B] arrays) and the power model its hosts draw by."""

    cpu: np.ndarray
    mem: np.ndarray
    expected_usage: np.ndarray  # cpu * the workload's mean usage factor
    duration_s: np.ndarray  # the believed run time (envs/duration_knowledge.py)
    now_s: np.ndarray
    power_model: PowerModel
    boot_delay_s: float
    idle_timeout_s: float

    def per_row(self, like: np.ndarray, name: str) -> np.ndarray:
        """Field `name` shaped to broadcast against [B, ...] host columns."""
        return getattr(self, name).reshape((-1,) + (1,) * (like.ndim - 1))


@dataclasses.dataclass(frozen=True)
class PlacementScores:
    """Per host, what placing the pending task there would do."""

    allocated_after: np.ndarray  # mean of CPU and memory allocated shares
    power_increase: np.ndarray  # watts added now / peak watts (idle watts too if it sleeps)
    overloads: np.ndarray  # usage would reach capacity at the mean usage factor
    held_s: np.ndarray  # how much longer the host stays on without the task (0 if off)
    added_s: np.ndarray  # how much longer it would stay on with it
    added_energy: np.ndarray  # dynamic + idle energy the task adds, peak-watt-hours


def placement_scores(
    cpu_cap, mem_cap, cpu_req, mem_req, usage, power, until, query: PlacementQuery, outlook=None
) -> PlacementScores:
    """What placing each row's pending task on each host would do; `until` is
    HostCommitments.until (when each host may switch off at the earliest), `outlook` the
    usage the overload rule reads where it is not `usage` (env.knowledge.host_usage)."""
    cpu, mem = query.per_row(cpu_cap, "cpu"), query.per_row(cpu_cap, "mem")
    expected = query.per_row(cpu_cap, "expected_usage")
    duration, now = query.per_row(cpu_cap, "duration_s"), query.per_row(cpu_cap, "now_s")
    inv_cpu = np.where(cpu_cap > 0, 1.0 / np.maximum(cpu_cap, TINY), 0.0)
    inv_mem = np.where(mem_cap > 0, 1.0 / np.maximum(mem_cap, TINY), 0.0)
    allocated_after = 0.5 * ((cpu_req + cpu) * inv_cpu + (mem_req + mem) * inv_mem)
    model = query.power_model
    before = model.watts(usage * inv_cpu)
    after = model.watts((usage + expected) * inv_cpu)
    off = power == OFF
    peak = model.watts_at[-1]
    end_s = now + np.where(off, query.boot_delay_s, 0.0) + duration
    held, added_s = held_and_added(until, off, now, end_s, query.idle_timeout_s)
    joules = (after - before) * duration + model.idle_watts * added_s
    return PlacementScores(
        allocated_after=allocated_after,
        power_increase=(after - np.where(off, 0.0, before)) / peak,
        overloads=would_overload(usage if outlook is None else outlook, expected, cpu_cap),
        held_s=held - now,
        added_s=added_s,
        added_energy=joules / (peak * S_PER_H),
    )


def _log_s(seconds: np.ndarray) -> np.ndarray:
    return np.log1p(seconds) / LOG_DURATION_SCALE


def _least(values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Min of values over each group's candidate hosts; 0 for a group without any (its feasible
    share says so)."""
    least = np.where(candidates, values, np.inf).min(-1)
    return np.where(np.isfinite(least), least, 0.0)


def group_load_features(
    cpu_cap, mem_cap, cpu_req, mem_req, usage, power, cpu_alloc, mem_alloc, outlook=None
):
    """[B, G, n] host columns -> [B, G, 9]: the group block's first features, which do not
    depend on the pending task (a server reuses them until a host's columns change); the
    headroom reads `outlook` where given (env.knowledge.host_usage)."""
    cap_cpu = np.maximum(cpu_cap.sum(-1), TINY)
    cap_mem = np.maximum(mem_cap.sum(-1), TINY)
    on = power == ON
    # Where a task can go without waking a host: what consolidation (and energy) turns on.
    free_on = np.where(on, cpu_alloc - cpu_req, 0.0)
    headroom_on = np.where(on, cpu_cap - (usage if outlook is None else outlook), 0.0)
    return np.stack(
        [
            cpu_req.sum(-1) / cap_cpu,
            mem_req.sum(-1) / cap_mem,
            usage.sum(-1) / cap_cpu,
            (power != OFF).mean(-1),
            (cpu_alloc - cpu_req).max(-1),
            (mem_alloc - mem_req).max(-1),
            (on & (usage >= cpu_cap)).mean(-1),
            free_on.max(-1),
            headroom_on.max(-1),
        ],
        axis=-1,
    )


def group_placement_features(
    cpu_cap, mem_cap, cpu_req, mem_req, usage, power, until, feasible, query, outlook=None
):
    """[B, G, n] host columns, feasibility and the pending tasks -> [B, G, 5]: the group
    block's last features, where the task fits and what placing it would do."""
    columns = (cpu_cap, mem_cap, cpu_req, mem_req, usage, power, until)
    scores = placement_scores(*columns, query, outlook)
    safe = feasible & ~scores.overloads
    # PABFD's candidates, per group: the hosts the task would not overload, if any.
    candidates = np.where(safe.any(-1, keepdims=True), safe, feasible)
    energy = np.log1p(scores.added_energy)
    return np.stack(
        [
            feasible.mean(-1),
            safe.mean(-1),
            np.where(feasible, scores.allocated_after, 0.0).max(-1),
            _least(scores.power_increase, candidates),
            _least(energy, candidates),
        ],
        axis=-1,
    )


def group_features(
    cpu_cap,
    mem_cap,
    cpu_req,
    mem_req,
    usage,
    power,
    cpu_alloc,
    mem_alloc,
    until,
    feasible,
    query,
    load: np.ndarray | None = None,
    outlook: np.ndarray | None = None,
):
    """[B, G, n] host columns, feasibility and the pending tasks -> [B, G, 14] group blocks;
    `load`: these columns' group_load_features when the caller keeps them between tasks;
    `outlook`: the usage the overcommit features read where it is not `usage`."""
    if load is None:
        load = group_load_features(
            cpu_cap, mem_cap, cpu_req, mem_req, usage, power, cpu_alloc, mem_alloc, outlook
        )
    placement = group_placement_features(
        cpu_cap, mem_cap, cpu_req, mem_req, usage, power, until, feasible, query, outlook
    )
    return np.concatenate([load, placement], axis=-1)


def host_features(
    cpu_cap,
    mem_cap,
    cpu_req,
    mem_req,
    usage,
    power,
    cpu_alloc,
    mem_alloc,
    until,
    feasible,
    query,
    outlook: np.ndarray | None = None,
):
    """[B, n] host columns, feasibility and the pending tasks -> [B, n, 14] host blocks;
    `outlook`: the usage the overload flag reads where it is not `usage`."""
    cpu_div, mem_div = np.maximum(cpu_cap, TINY), np.maximum(mem_cap, TINY)
    columns = (cpu_cap, mem_cap, cpu_req, mem_req, usage, power, until)
    scores = placement_scores(*columns, query, outlook)
    return np.stack(
        [
            cpu_req / cpu_div,
            mem_req / mem_div,
            usage / cpu_div,
            (power == ON).astype(np.float64),
            (power == BOOTING).astype(np.float64),
            cpu_alloc - cpu_req,
            mem_alloc - mem_req,
            scores.overloads.astype(np.float64),
            feasible.astype(np.float64),
            np.where(feasible, scores.allocated_after, 0.0),
            np.where(feasible, scores.power_increase, 0.0),
            _log_s(scores.held_s),
            np.where(feasible, _log_s(scores.added_s), 0.0),
            np.where(feasible, np.log1p(scores.added_energy), 0.0),
        ],
        axis=-1,
    )


def task_features(pending: dict, max_priority: int, max_defers: int) -> np.ndarray:
    """[B, 7] features of each env's pending task, from its believed run time (duration_est_s)
    and that belief's uncertainty (duration_unc), never its true duration_s."""
    return np.stack(
        [
            pending["cpu"],
            pending["mem"],
            np.log1p(pending["duration_est_s"]) / LOG_DURATION_SCALE,
            pending["duration_unc"],
            pending["priority"] / max(max_priority, 1),
            pending["deferrable"],
            pending["defers"] / max(max_defers, 1),
        ],
        axis=-1,
    ).astype(np.float64)


def context_features(
    t: np.ndarray,
    carbon_norm: np.ndarray,
    forecast: np.ndarray,
    carbon_outlook: np.ndarray | None = None,
) -> np.ndarray:
    """[B, 3 (+ O) + F]: time of day, carbon intensity, its outlook if observed, forecast."""
    phase = 2 * np.pi * (t % DAY_S) / DAY_S
    now = np.stack([np.sin(phase), np.cos(phase), carbon_norm], axis=-1)
    outlook = [] if carbon_outlook is None else [carbon_outlook]
    return np.concatenate([now, *outlook, forecast], axis=-1)


def assemble(blocks: np.ndarray, task: np.ndarray, context: np.ndarray) -> np.ndarray:
    """Flatten the [B, n, k] child blocks and append task and context features."""
    flat = blocks.reshape(blocks.shape[0], -1)
    return np.concatenate([flat, task, context], axis=-1).astype(np.float32)


def child_blocks(
    level: str,
    top: Topology,
    hosts: HostArrays,
    until: np.ndarray,
    feasible_hosts: np.ndarray,
    agent: np.ndarray,
    query: PlacementQuery,
    outlook: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature blocks [B, children, k] and feasibility [B, children] of each env's acting agent
    (cluster: its racks; rack: its leaf groups; leaf: its hosts); `outlook` [B, H]: the host
    usage the overcommit features read, where it is not the current usage."""
    h = hosts
    columns = [h.cpu_capacity, h.mem_capacity, h.cpu_requested, h.mem_requested, h.cpu_usage]
    columns += [h.power_state, h.cpu_alloc, h.mem_alloc, until, feasible_hosts]
    selected = [_children(level, top, c, agent) for c in columns]
    forecast = None if outlook is None else _children(level, top, outlook, agent)
    if level == "leaf":
        return host_features(*selected, query, forecast), selected[-1]
    return group_features(*selected, query, outlook=forecast), selected[-1].any(-1)


def _children(level: str, top: Topology, column: np.ndarray, agent: np.ndarray) -> np.ndarray:
    """A [B, H] host column as [B, children, hosts per child] (cluster: racks, rack: leaf
    groups) or [B, hosts] (leaf) under each env's acting agent."""
    rows = np.arange(len(agent))
    if level == "cluster":
        racks = agent[:, None] * top.racks_per_cluster + np.arange(top.racks_per_cluster)
        return top.by_rack(column)[rows[:, None], racks]
    if level == "rack":
        shape = (len(agent), top.leaves_per_rack, top.hosts_per_leaf)
        return top.by_rack(column)[rows, agent].reshape(shape)
    return top.by_leaf(column)[rows, agent]


def observation_dims(topology, forecast_horizon: int, carbon_outlook: int = 0) -> dict[str, int]:
    """Observation size per level for an env config's topology section, forecast horizon and
    carbon outlook features (envs.carbon.outlook_features)."""
    context = TASK_FEATURES + CONTEXT_FEATURES + carbon_outlook + forecast_horizon
    return {
        "cluster": topology.racks_per_cluster * GROUP_FEATURES + context,
        "rack": topology.leaves_per_rack * GROUP_FEATURES + context,
        "leaf": topology.hosts_per_leaf * HOST_FEATURES + context,
    }


def level_forecast(level: str, top: Topology, forecast: np.ndarray, agent: np.ndarray):
    """[B, F]: the per-leaf forecast averaged over the leaf groups under each acting agent."""
    B, _, F = forecast.shape
    groups = {"cluster": top.num_clusters, "rack": top.num_racks, "leaf": top.num_leaves}[level]
    return forecast.reshape(B, groups, -1, F).mean(2)[np.arange(B), agent]
