"""Score a policy (trained module or heuristic) on finite episodes of a workload.

Heuristics that pick hosts (HostPlacement) place each task with one `step_hosts` call and need
no observations; other policies step level by level (marl_alloc.policy.acting for a trained
one). Scoring a heuristic stays a numpy-only program.
"""

import time
from typing import Any, Protocol

import numpy as np

from envs import LevelObs, VectorDatacenterEnv
from marl_alloc.floor.settings import EnvConfig

COUNT_KEYS = ("tasks_total", "tasks_placed", "tasks_rejected", "tasks_deferred", "tasks_pending")
# total_cost: the configured reward weights applied to the episode (minus its summed reward),
# the one figure that says which policy is better on what the operator asked for.
SUM_KEYS = ("energy_kwh", "carbon_kg", "total_cost")
MEAN_KEYS = ("sla_violation_rate", "mean_utilization")
METRIC_KEYS = (
    *COUNT_KEYS,
    "sla_violation_rate",
    "energy_kwh",
    "carbon_kg",
    "mean_utilization",
    "decision_latency_ms_p50",
    "decision_latency_ms_p99",
)
# CloudSim's SLA and migration figures, averaged (rates) or summed (counts) over episodes.
EXTRA_MEAN_KEYS = ("slatah", "pdm", "slav", "unserved_cpu_share", "active_hosts_mean")
EXTRA_SUM_KEYS = ("migrations", "slo_violations", "deferrals")


class Policy(Protocol):
    """Anything that picks one action per env for the level that must act: a heuristic
    (envs.HEURISTICS) or a trained policy (marl_alloc.policy.load_acting_policy)."""

    def act(self, env: VectorDatacenterEnv, level_obs: LevelObs) -> np.ndarray: ...


def make_env(
    env_settings: EnvConfig, seed: int, workload: Any = None, timeline_s: float | None = None
) -> VectorDatacenterEnv:
    """One finite-episode datacenter, optionally sampling a timeline every timeline_s."""
    # The constructor starts the seed's first episode; no second reset (a cell's warm start
    # places ~130k tasks).
    env = VectorDatacenterEnv(
        env_settings, num_envs=1, seed=seed, continuing=False, workload=workload
    )
    if timeline_s:
        env.record_timeline(timeline_s)
    return env


def run_episode(
    policy: Policy,
    env_settings: EnvConfig,
    seed: int,
    workload: Any = None,
    timeline_s: float | None = None,
) -> tuple[dict, list[float], VectorDatacenterEnv]:
    """One finite episode in one datacenter; returns its metrics, per-task decision latencies
    and the finished env (its timeline, tasks at start)."""
    env = make_env(env_settings, seed, workload, timeline_s)
    latencies_ms: list[float] = []
    total_cost = 0.0
    clock = time.perf_counter
    if hasattr(policy, "hosts"):
        while not env.done[0]:
            start = clock()
            hosts = policy.hosts(env)
            latencies_ms.append((clock() - start) * 1e3)
            reward, _ = env.step_hosts(hosts)
            total_cost -= float(reward[0])
    else:
        level_obs = env.observe()
        cycle_ms = 0.0
        while True:
            start = clock()
            actions = policy.act(env, level_obs)
            cycle_ms += (clock() - start) * 1e3
            result = env.step(actions)
            level_obs = result.next
            if result.cycle_end:
                latencies_ms.append(cycle_ms)
                cycle_ms = 0.0
                total_cost -= float(result.reward[0])
                if result.done[0]:
                    break
    metrics = {key: np.asarray(value).reshape(-1)[0] for key, value in env.metrics().items()}
    metrics["total_cost"] = total_cost
    return metrics, latencies_ms, env


def score(
    policy: Policy,
    env_settings: EnvConfig,
    episodes: int,
    seed: int,
    workload: Any = None,
    timeline_s: float | None = None,
) -> dict[str, Any]:
    """Metrics over `episodes` seeded episodes: counts and energy summed, rates averaged; with
    timeline_s, the first episode's timeline under `timeline`."""
    per_episode = []
    latencies: list[float] = []
    first_env = None
    for episode in range(episodes):
        metrics, episode_latencies, env = run_episode(
            policy, env_settings, seed + episode, workload, timeline_s if episode == 0 else None
        )
        first_env = first_env or env
        per_episode.append(metrics)
        latencies += episode_latencies
    out: dict[str, Any] = {}
    for key in (*COUNT_KEYS, *EXTRA_SUM_KEYS):
        out[key] = int(sum(int(m[key]) for m in per_episode))
    for key in SUM_KEYS:
        out[key] = float(sum(float(m[key]) for m in per_episode))
    for key in (*MEAN_KEYS, *EXTRA_MEAN_KEYS):
        out[key] = float(np.mean([float(m[key]) for m in per_episode]))
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    out["decision_latency_ms_p50"] = float(np.percentile(lat, 50))
    out["decision_latency_ms_p99"] = float(np.percentile(lat, 99))
    out["episodes"] = episodes
    out["simulated_s"] = float(sum(float(m["elapsed_s"]) for m in per_episode))
    out["hosts"] = int((first_env.hosts.cpu_capacity[0] > 0).sum())
    out["tasks_at_start"] = int(first_env.tasks_at_start[0])
    out["tasks_dropped_at_start"] = int(first_env.tasks_dropped_at_start[0])
    if timeline_s and first_env.timeline is not None:
        series = first_env.timeline.series(0)
        out["timeline"] = {k: [round(float(x), 6) for x in v] for k, v in series.items()}
    return out
