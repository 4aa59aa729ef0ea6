"""Per-level observation vectors (float32, fixed size per level).

Every level's vector is [per-child features..., task (6), time (2), carbon (1), forecast (F)]:

- cluster: one block of 7 per rack of the task's cluster,
- rack: one block of 7 per leaf group of the chosen rack,
- leaf: one block of 8 per host of the chosen leaf group.

Group block (rack or leaf group), over its hosts:
  [requested cpu / cpu capacity, requested mem / mem capacity, cpu usage / cpu capacity,
   share of hosts on or booting, max free cpu on one host, max free mem on one host,
   share of hosts overloaded, max free cpu on one switched-on host, max cpu usage headroom
   (capacity - usage) on one switched-on host]
Host block:
  [requested cpu / capacity, requested mem / capacity, usage / capacity, on, booting,
   free cpu, free mem, would overload if the task ran there at the mean usage factor]
Task: [cpu, mem, log1p(duration_s) / 10, priority / max priority, deferrable, defers used / max]
Time: [sin, cos] of the time of day. Carbon: intensity / the series' mean.
Forecast: the forecaster's next-F demand per leaf group (`VectorDatacenterEnv.set_forecast`),
averaged over the leaf groups under the acting agent; zeros until one is set.
Free resources are in capacity units (largest machine = 1.0): what may still be allotted
(capacity * overcommit - requested). A host slot without a machine reads as all zeros.
"""

import numpy as np

from envs.hosts import BOOTING, OFF, ON, HostArrays
from envs.topology import Topology

GROUP_FEATURES = 9
HOST_FEATURES = 8
TASK_FEATURES = 6
CONTEXT_FEATURES = 3  # sin, cos of time of day; carbon intensity
DAY_S = 86400.0
LOG_DURATION_SCALE = 10.0


TINY = 1e-9  # divides empty host slots' zeros by something


def group_features(cpu_cap, mem_cap, cpu_req, mem_req, usage, power, cpu_alloc, mem_alloc):
    """[B, G, n] host columns -> [B, G, 9] group blocks."""
    cap_cpu = np.maximum(cpu_cap.sum(-1), TINY)
    cap_mem = np.maximum(mem_cap.sum(-1), TINY)
    on = power == ON
    # Where a task can go without waking a host: what consolidation (and energy) turns on.
    free_on = np.where(on, cpu_alloc - cpu_req, 0.0)
    headroom_on = np.where(on, cpu_cap - usage, 0.0)
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


def host_features(
    cpu_cap, mem_cap, cpu_req, mem_req, usage, power, cpu_alloc, mem_alloc, expected_usage
):
    """[B, n] host columns and the task's expected usage [B] -> [B, n, 8] host blocks."""
    cpu_div, mem_div = np.maximum(cpu_cap, TINY), np.maximum(mem_cap, TINY)
    return np.stack(
        [
            cpu_req / cpu_div,
            mem_req / mem_div,
            usage / cpu_div,
            (power == ON).astype(np.float64),
            (power == BOOTING).astype(np.float64),
            cpu_alloc - cpu_req,
            mem_alloc - mem_req,
            ((usage + expected_usage[:, None] >= cpu_cap) & (cpu_cap > 0)).astype(np.float64),
        ],
        axis=-1,
    )


def task_features(pending: dict, max_priority: int, max_defers: int) -> np.ndarray:
    """[B, 6] features of each env's pending task."""
    return np.stack(
        [
            pending["cpu"],
            pending["mem"],
            np.log1p(pending["duration_s"]) / LOG_DURATION_SCALE,
            pending["priority"] / max(max_priority, 1),
            pending["deferrable"],
            pending["defers"] / max(max_defers, 1),
        ],
        axis=-1,
    ).astype(np.float64)


def context_features(t: np.ndarray, carbon_norm: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """[B, 3 + F]: time of day, carbon intensity and forecast."""
    phase = 2 * np.pi * (t % DAY_S) / DAY_S
    return np.concatenate(
        [np.stack([np.sin(phase), np.cos(phase), carbon_norm], axis=-1), forecast], axis=-1
    )


def assemble(blocks: np.ndarray, task: np.ndarray, context: np.ndarray) -> np.ndarray:
    """Flatten the [B, n, k] child blocks and append task and context features."""
    flat = blocks.reshape(blocks.shape[0], -1)
    return np.concatenate([flat, task, context], axis=-1).astype(np.float32)


def child_blocks(
    level: str,
    top: Topology,
    hosts: HostArrays,
    feasible_hosts: np.ndarray,
    agent: np.ndarray,
    expected_usage: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature blocks [B, children, k] and feasibility [B, children] of each env's acting agent
    (cluster: its racks; rack: its leaf groups; leaf: its hosts)."""
    h = hosts
    columns = [h.cpu_capacity, h.mem_capacity, h.cpu_requested, h.mem_requested, h.cpu_usage]
    columns += [h.power_state, h.cpu_alloc, h.mem_alloc]
    rows = np.arange(len(agent))
    if level == "cluster":
        racks = agent[:, None] * top.racks_per_cluster + np.arange(top.racks_per_cluster)
        blocks = group_features(*(top.by_rack(c)[rows[:, None], racks] for c in columns))
        return blocks, top.by_rack(feasible_hosts)[rows[:, None], racks].any(-1)
    if level == "rack":
        shape = (len(agent), top.leaves_per_rack, top.hosts_per_leaf)
        in_rack = [top.by_rack(c)[rows, agent].reshape(shape) for c in columns]
        fit = top.by_rack(feasible_hosts)[rows, agent].reshape(shape)
        return group_features(*in_rack), fit.any(-1)
    in_leaf = [top.by_leaf(c)[rows, agent] for c in columns]
    return host_features(*in_leaf, expected_usage), top.by_leaf(feasible_hosts)[rows, agent]


def level_forecast(level: str, top: Topology, forecast: np.ndarray, agent: np.ndarray):
    """[B, F]: the per-leaf forecast averaged over the leaf groups under each acting agent."""
    B, _, F = forecast.shape
    groups = {"cluster": top.num_clusters, "rack": top.num_racks, "leaf": top.num_leaves}[level]
    return forecast.reshape(B, groups, -1, F).mean(2)[np.arange(B), agent]
