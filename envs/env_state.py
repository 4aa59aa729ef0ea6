"""Resumable state of a VectorDatacenterEnv: `snapshot` and `restore` behind get_state/set_state."""

from typing import Any

import numpy as np

from envs.carbon import CarbonSeries
from envs.commitment import HostCommitments
from envs.hosts import HostArrays
from envs.oracle_forecast import OracleForecast
from envs.records import PENDING_DTYPES


def snapshot(env: Any) -> dict[str, Any]:
    """Everything needed to continue exactly (arrays, rng and source states)."""
    return {
        "seed": env._seed,
        "episode": env._episode,
        "level": env._level,
        "now": env.now.copy(),
        "hosts": env.hosts.get_state(),
        "running": env.running.get_state(),
        "deferred": env.deferred.get_state(),
        "arrivals": env.arrivals.get_state(),
        "metrics": env.metrics_.get_state(),
        "pending": {k: v.copy() for k, v in env.pending.items()},
        "has_pending": env.has_pending.copy(),
        "done": env.done.copy(),
        "last_arrival_s": env.last_arrival_s.copy(),
        "commit_until": env.commitments.until.copy(),
        "feasible_hosts": env.feasible_hosts.copy(),
        "rack": env._rack.copy(),
        "leaf": env._leaf.copy(),
        "deferred_now": env._deferred_now.copy(),
        "cycle_cost": env._cost.copy(),
        "forecast": env.forecast.copy(),
        "next_tick_s": env.next_tick_s.copy(),
        "power_next_s": None if env.power_manager is None else env.power_manager.next_s.copy(),
        "usage_rng": env.usage_rng.bit_generator.state,
        "tasks_at_start": env.tasks_at_start.copy(),
        "tasks_dropped_at_start": env.tasks_dropped_at_start.copy(),
        "knowledge": env.knowledge.get_state(),
    }


def restore(env: Any, state: dict[str, Any]) -> None:
    """Continue from `snapshot` of an env with the same config and num_envs."""
    if int(np.asarray(state["now"]).shape[0]) != env.num_envs:
        raise ValueError(
            f"state holds {len(state['now'])} envs but this env has {env.num_envs}; "
            "build the env with the same num_envs"
        )
    if int(state["seed"]) != env._seed:
        env.carbon = CarbonSeries.from_config(env.config.carbon, abs(int(state["seed"])))
    env._seed, env._episode = int(state["seed"]), int(state["episode"])
    env._level = int(state["level"])
    env.now = np.array(state["now"], np.float64)
    env.hosts = HostArrays.from_state(state["hosts"], env.power_model, env.config.hosts)
    env.running.set_state(state["running"])
    env.usage_forecast.rebuild(env.num_envs, env.topology.num_hosts)
    env.finishes.rebuild(env.running)
    env.commitments = HostCommitments(env.hosts, env.running)
    # Snapshots from before commitments were always kept hold None: rebuilt from the tasks.
    if state.get("commit_until") is not None:
        env.commitments.until = np.array(state["commit_until"], np.float64)
    env.next_tick_s = np.array(state["next_tick_s"], np.float64)
    if env.power_manager is not None:
        env.power_manager.next_s = np.array(state["power_next_s"], np.float64)
    env.usage_rng.bit_generator.state = state["usage_rng"]
    env.tasks_at_start = np.array(state["tasks_at_start"], np.int64)
    env.tasks_dropped_at_start = np.array(state["tasks_dropped_at_start"], np.int64)
    env.deferred.set_state(state["deferred"])
    env.arrivals.set_state(state["arrivals"])
    env.metrics_.set_state(state["metrics"])
    env.pending = {k: np.array(state["pending"][k], d) for k, d in PENDING_DTYPES.items()}
    env.has_pending = np.array(state["has_pending"], bool)
    env.done = np.array(state["done"], bool)
    env.last_arrival_s = np.array(state["last_arrival_s"], np.float64)
    env.feasible_hosts = np.array(state["feasible_hosts"], bool)
    env._rack = np.array(state["rack"], np.int64)
    env._leaf = np.array(state["leaf"], np.int64)
    env._deferred_now = np.array(state["deferred_now"], bool)
    env._cost = np.array(state["cycle_cost"], np.float64)
    env.forecast = np.array(state["forecast"], np.float32)
    env.knowledge.set_state(state["knowledge"])
    if env.oracle_forecast is not None:  # its read-ahead follows the restored arrivals
        env.oracle_forecast = OracleForecast(env)
    env._level_obs = env._observe()
