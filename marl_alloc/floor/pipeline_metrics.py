"""Custom Ray metrics of the Ape-X pipeline, shown on the Ray dashboard and its Prometheus endpoint.

Each process records what it knows, once per call it already makes (a collect, an add, a training
round), so the cost is a few metric updates per batch, not per transition:

    env actor   marl_alloc_env_steps, _transitions_sent, _sla_violation_rate, _energy_kwh,
                _actor_weights_version                       (tag: actor)
    shard       marl_alloc_transitions_added, _transitions_sampled, _replay_size (tag: shard)
    learner     marl_alloc_learner_updates, _learner_loss (tag: module), _learner_weights_version,
                _learner_update_seconds (histogram)
    driver      marl_alloc_env_steps_per_s, _learner_updates_per_s, _weight_sync_lag (gauge, max
                over actors) and _weight_sync_lag_versions (histogram)

Prometheus shows them with Ray's `ray_` prefix (counters also get `_total`). Outside a Ray
session every call is a no-op, so the plain classes stay usable without Ray. Defined on the floor
so that actors, learners and replay record them without importing the orchestration.
"""

import functools
import sys
from collections.abc import Mapping
from typing import Any

PREFIX = "marl_alloc_"
LAG_BOUNDARIES = [0.5, 1.5, 2.5, 4.5, 8.5, 16.5, 32.5, 64.5]
UPDATE_SECONDS_BOUNDARIES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]


@functools.cache
def _metric(kind: str, name: str, description: str, tag_keys: tuple[str, ...] = ()) -> Any:
    """One metric object per process and name (Ray aggregates across processes by tags)."""
    from ray.util import metrics

    if kind == "counter":
        return metrics.Counter(PREFIX + name, description=description, tag_keys=tag_keys)
    if kind == "gauge":
        return metrics.Gauge(PREFIX + name, description=description, tag_keys=tag_keys)
    boundaries = LAG_BOUNDARIES if "lag" in name else UPDATE_SECONDS_BOUNDARIES
    return metrics.Histogram(
        PREFIX + name, description=description, boundaries=boundaries, tag_keys=tag_keys
    )


def _on() -> bool:
    # A process that never imported Ray runs no Ray session: no need to import it here.
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def _count(name: str, description: str, value: float, tags: dict[str, str] | None = None) -> None:
    # Ray counters take only positive increments.
    if value > 0:
        _metric("counter", name, description, tuple(tags or ())).inc(float(value), tags)


def record_actor(actor: int, stats: Mapping[str, Any]) -> None:
    """An env actor's collect stats (EnvWorker.collect's dict)."""
    if not _on():
        return
    tags = {"actor": str(actor)}
    _count("env_steps", "Agent decisions stepped", stats["env_steps"], tags)
    _count("transitions_sent", "n-step transitions sent to replay", stats["transitions"], tags)
    _metric("gauge", "sla_violation_rate", "SLA violation rate, last collect", ("actor",)).set(
        float(stats["sla_violation_rate"]), tags
    )
    _metric("gauge", "energy_kwh", "Energy (kWh) used in the last collect", ("actor",)).set(
        float(stats["energy_kwh"]), tags
    )
    _metric("gauge", "actor_weights_version", "Policy version acting", ("actor",)).set(
        float(stats["weights_version"]), tags
    )


def record_shard_add(shard: int, added: int, size: int) -> None:
    """A replay shard stored `added` transitions and now holds `size`."""
    if not _on():
        return
    tags = {"shard": str(shard)}
    _count("transitions_added", "Transitions stored in replay", added, tags)
    _metric("gauge", "replay_size", "Transitions held by the shard", ("shard",)).set(
        float(size), tags
    )


def record_shard_sample(shard: int, sampled: int) -> None:
    """A replay shard handed `sampled` transitions to the learner."""
    if _on():
        _count("transitions_sampled", "Transitions sampled", sampled, {"shard": str(shard)})


def record_learner(stats: Mapping[str, Any], seconds: float) -> None:
    """A learner training round (LearnerWorker.train_round's dict) that took `seconds`."""
    if not _on():
        return
    updates = int(stats["updates"])
    _count("learner_updates", "Gradient updates", updates)
    for module_id, loss in stats["loss"].items():
        _metric("gauge", "learner_loss", "TD loss, last round", ("module",)).set(
            float(loss), {"module": module_id}
        )
    if "weights_version" in stats:
        _metric("gauge", "learner_weights_version", "Latest trained policy version").set(
            float(stats["weights_version"])
        )
    if updates:
        _metric("histogram", "learner_update_seconds", "Seconds per gradient update").observe(
            seconds / updates
        )


def record_round(env_steps_per_s: float, updates_per_s: float, lags: list[int]) -> None:
    """The driver's view of one round: throughput and how stale the actors' weights are."""
    if not _on():
        return
    _metric("gauge", "env_steps_per_s", "Env steps per second, last round").set(env_steps_per_s)
    _metric("gauge", "learner_updates_per_s", "Learner updates per second, last round").set(
        updates_per_s
    )
    if lags:
        _metric("gauge", "weight_sync_lag", "Learner minus actor weights version (max)").set(
            float(max(lags))
        )
        histogram = _metric(
            "histogram", "weight_sync_lag_versions", "Learner minus actor weights version"
        )
        for lag in lags:
            histogram.observe(float(lag))
