"""Score a policy (trained module or heuristic) on finite episodes of a workload."""

import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import torch

from envs import LevelObs, VectorDatacenterEnv
from marl_alloc import columns as C

COUNT_KEYS = ("tasks_total", "tasks_placed", "tasks_rejected", "tasks_deferred", "tasks_pending")
SUM_KEYS = ("energy_kwh", "carbon_kg")
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


class Policy(Protocol):
    """Anything that picks one action per env for the level that must act."""

    def act(self, env: VectorDatacenterEnv, level_obs: LevelObs) -> np.ndarray: ...


class ModulePolicy:
    """Greedy actions of a trained MultiRLModule (one sub-module per level)."""

    def __init__(self, module: Any):
        self.module = module

    def act(self, env: VectorDatacenterEnv, level_obs: LevelObs) -> np.ndarray:
        """Masked argmax of the level's Q values."""
        batch = {
            C.OBS: torch.from_numpy(level_obs.obs),
            C.ACTION_MASK: torch.from_numpy(level_obs.action_mask),
        }
        with torch.no_grad():
            return self.module[level_obs.level].forward_inference(batch)[C.ACTIONS].numpy()


def run_episode(policy: Policy, env_settings: Mapping, seed: int) -> tuple[dict, list[float]]:
    """One finite episode in one datacenter; returns its metrics and per-task decision latencies."""
    env = VectorDatacenterEnv(env_settings, num_envs=1, seed=seed, continuing=False)
    level_obs = env.reset(seed=seed)
    latencies_ms: list[float] = []
    cycle_ms = 0.0
    while True:
        start = time.perf_counter()
        actions = policy.act(env, level_obs)
        cycle_ms += (time.perf_counter() - start) * 1e3
        result = env.step(actions)
        level_obs = result.next
        if result.cycle_end:
            latencies_ms.append(cycle_ms)
            cycle_ms = 0.0
            if result.done[0]:
                break
    metrics = {key: np.asarray(value).reshape(-1)[0] for key, value in env.metrics().items()}
    return metrics, latencies_ms


def score(policy: Policy, env_settings: Mapping, episodes: int, seed: int) -> dict[str, Any]:
    """Metrics over `episodes` seeded episodes: counts and energy summed, rates averaged."""
    per_episode = []
    latencies: list[float] = []
    for episode in range(episodes):
        metrics, episode_latencies = run_episode(policy, env_settings, seed + episode)
        per_episode.append(metrics)
        latencies += episode_latencies
    out: dict[str, Any] = {}
    for key in COUNT_KEYS:
        out[key] = int(sum(int(m[key]) for m in per_episode))
    for key in SUM_KEYS:
        out[key] = float(sum(float(m[key]) for m in per_episode))
    for key in MEAN_KEYS:
        out[key] = float(np.mean([float(m[key]) for m in per_episode]))
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    out["decision_latency_ms_p50"] = float(np.percentile(lat, 50))
    out["decision_latency_ms_p99"] = float(np.percentile(lat, 99))
    out["episodes"] = episodes
    return out
