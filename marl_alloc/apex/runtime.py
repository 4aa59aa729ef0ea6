"""The Ape-X pipeline placed in one process (`training.local=true`) or on Ray actors.

Both run the same plain classes: EnvWorker -> PrioritizedShard -> LearnerWorker. The Ray variant
only places them: env actors push to their shard, the learner actor pulls from all shards, and the
driver moves nothing but small stats dicts and object refs to published weights.
"""

import logging
import time
from typing import Any

import numpy as np
import ray

from actors.env_worker import EnvWorker, apex_epsilon
from learners.learner_worker import LearnerWorker
from replay import PrioritizedShard, make_shard_actors, shard_for_actor

logger = logging.getLogger(__name__)


def _worker_kwargs(settings: dict, index: int) -> dict[str, Any]:
    training = settings["training"]
    return {
        "num_envs": int(settings["env"]["num_envs_per_actor"]),
        "seed": int(settings["seed"]) * 10_007 + index,
        "epsilon": apex_epsilon(
            index, training["num_actors"], training["epsilon_base"], training["epsilon_alpha"]
        ),
        "n_step": int(training["n_step"]),
        "gamma": float(training["gamma"]),
    }


def summarize_round(actor_stats: list[dict], learner_stats: list[dict]) -> dict[str, Any]:
    """Sum counters and average rates over the round's actor and learner results."""
    out: dict[str, Any] = {
        "env_steps": sum(s["env_steps"] for s in actor_stats),
        "transitions": sum(s["transitions"] for s in actor_stats),
        "updates": sum(s["updates"] for s in learner_stats),
    }
    for key in ("reward_mean", "sla_violation_rate"):
        if actor_stats:
            out[key] = float(np.mean([s[key] for s in actor_stats]))
    for key in ("energy_kwh", "tasks_rejected"):
        if actor_stats:
            out[key] = float(np.sum([s[key] for s in actor_stats]))
    losses: dict[str, list[float]] = {}
    for s in learner_stats:
        for module_id, loss in s["loss"].items():
            losses.setdefault(module_id, []).append(loss)
    for module_id, values in losses.items():
        out[f"loss_{module_id}"] = float(np.mean(values))
    return out


class LocalRuntime:
    """Everything in the driver process, stepped in turn: the debugging and fast-test mode."""

    def __init__(self, config, learner_state: dict | None):
        settings = config.marl_alloc
        training = settings["training"]
        num_shards = int(settings["replay"]["num_shards"])
        self.shards = [PrioritizedShard(settings["replay"], i) for i in range(num_shards)]
        self.workers = [
            EnvWorker(
                settings["env"],
                config.rl_module_spec,
                self.shards[shard_for_actor(i, num_shards)].add,
                **_worker_kwargs(settings, i),
            )
            for i in range(int(training["num_actors"]))
        ]
        self.learner = LearnerWorker(config, self.shards, learner_state)
        self.cycles = int(training["collect_cycles"])
        self.updates = int(training["updates_per_round"])
        self._publish()

    def _publish(self) -> None:
        weights = self.learner.get_weights()
        for worker in self.workers:
            worker.set_weights(weights)

    def run_round(self) -> dict[str, Any]:
        """Collect with every worker, train one round, publish weights."""
        actor_stats = [w.collect(self.cycles) for w in self.workers]
        learner_stats = self.learner.train_round(self.updates)
        self._publish()
        return summarize_round(actor_stats, [learner_stats])

    def learner_state(self) -> dict:
        """The learner's full RLlib state."""
        return self.learner.get_state()

    def shutdown(self) -> None:
        """Nothing to stop in one process."""


class RayRuntime:
    """Env actors, replay shard actors and a learner actor running concurrently."""

    def __init__(self, config, learner_state: dict | None):
        from actors.env_actor import EnvActor
        from learners.learner_actor import LearnerActor

        settings = config.marl_alloc
        training = settings["training"]
        num_shards = int(settings["replay"]["num_shards"])
        self.shards = make_shard_actors(settings["replay"], num_shards)
        num_gpus = float(training["learner_num_gpus"])
        learner_config = config.copy(copy_frozen=False).learners(num_gpus_per_learner=num_gpus)
        self.learner = LearnerActor.options(
            num_cpus=float(training["learner_num_cpus"]), num_gpus=num_gpus
        ).remote(learner_config, self.shards, learner_state)
        self.actors = [
            EnvActor.options(num_cpus=float(training["actor_num_cpus"]), max_restarts=-1).remote(
                self.shards[shard_for_actor(i, num_shards)],
                settings["env"],
                config.rl_module_spec,
                **_worker_kwargs(settings, i),
            )
            for i in range(int(training["num_actors"]))
        ]
        self.cycles = int(training["collect_cycles"])
        self.updates = int(training["updates_per_round"])
        self.sync_every_s = float(training["weights_sync_every_s"])
        self.max_round_s = float(training["log_every_s"])
        self._last_sync = 0.0
        self._publish()
        self.collecting = {a.collect.remote(self.cycles): a for a in self.actors}
        self.training = self.learner.train_round.remote(self.updates)

    def _publish(self) -> None:
        # One ray.put inside the learner; actors resolve the same object from the store.
        weights_ref = self.learner.get_weights.remote()
        for actor in self.actors:
            actor.set_weights.remote(weights_ref)
        self._last_sync = time.monotonic()

    def run_round(self) -> dict[str, Any]:
        """Harvest actor results until the learner finishes a round (or the round times out)."""
        deadline = time.monotonic() + self.max_round_s
        actor_stats: list[dict] = []
        learner_stats: list[dict] = []
        while time.monotonic() < deadline:
            waiting = [*self.collecting, *([self.training] if self.training else [])]
            ready, _ = ray.wait(waiting, num_returns=1, timeout=deadline - time.monotonic())
            if not ready:
                break
            if self.training is not None and ready[0] == self.training:
                stats = ray.get(self.training)
                learner_stats.append(stats)
                if time.monotonic() - self._last_sync >= self.sync_every_s:
                    self._publish()
                if stats["updates"] and actor_stats:
                    self.training = self.learner.train_round.remote(self.updates)
                    break
                # Replay still warming up: ask again only after actors have added more.
                self.training = None
                continue
            actor = self.collecting.pop(ready[0])
            try:
                actor_stats.append(ray.get(ready[0]))
            except ray.exceptions.RayActorError as err:
                logger.warning("env actor failed (%s); Ray restarts it", err)
            self.collecting[actor.collect.remote(self.cycles)] = actor
            if self.training is None:
                self.training = self.learner.train_round.remote(self.updates)
        if self.training is None:
            self.training = self.learner.train_round.remote(self.updates)
        return summarize_round(actor_stats, learner_stats)

    def learner_state(self) -> dict:
        """The learner actor's full RLlib state."""
        return ray.get(self.learner.get_state.remote())

    def shutdown(self) -> None:
        """Kill the Ape-X actors."""
        for handle in [*self.actors, *self.shards, self.learner]:
            ray.kill(handle)


def make_runtime(config, learner_state: dict | None) -> LocalRuntime | RayRuntime:
    """The in-process runtime when `training.local` is set, else the Ray actors."""
    if config.marl_alloc["training"].get("local", False):
        return LocalRuntime(config, learner_state)
    return RayRuntime(config, learner_state)
