"""The Ape-X pipeline placed in one process (`training.local=true`) or on Ray actors.

Both run the same plain classes: EnvWorker -> PrioritizedShard -> LearnerWorker. The Ray variant
only places them: env actors push to their shard, the learner actor pulls from all shards, and the
driver moves nothing but small stats dicts and object refs to published weights. Every actor is
restarted by Ray when it dies (`training.max_restarts`); the driver notices, resubmits its call and
carries on: shards resume from their snapshot, the learner from the last checkpoint.
"""

import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import ray

from actors.env_worker import EnvWorker, apex_epsilon
from learners.learner_worker import LearnerWorker
from marl_alloc.floor import pipeline_metrics
from marl_alloc.floor.errors import first_line
from marl_alloc.floor.settings import Settings
from replay import PrioritizedShard, make_shard_actors, shard_for_actor, shard_name

logger = logging.getLogger(__name__)


def worker_kwargs(settings: Settings, index: int) -> dict[str, Any]:
    """EnvWorker keyword arguments for env actor `index`: envs, seed, Ape-X epsilon, n-step."""
    training = settings.training
    return {
        "num_envs": settings.env.num_envs_per_actor,
        "seed": settings.seed * 10_007 + index,
        "epsilon": apex_epsilon(
            index, training.num_actors, training.epsilon_base, training.epsilon_alpha
        ),
        "n_step": training.n_step,
        "gamma": training.gamma,
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
    for key in ("team_loss", "credit_variance"):
        values = [s["credit"][key] for s in learner_stats if key in s["credit"]]
        if values:
            out[key] = float(np.mean(values))
    return out


class RoundClock:
    """Wall time between rounds, for the per-round rates the driver reports."""

    def __init__(self):
        self.last = time.monotonic()

    def rates(self, summary: dict[str, Any]) -> tuple[float, float]:
        """Env steps/s and updates/s since the previous call."""
        now = time.monotonic()
        elapsed, self.last = max(now - self.last, 1e-9), now
        return summary["env_steps"] / elapsed, summary["updates"] / elapsed


class LocalRuntime:
    """Everything in the driver process, stepped in turn: the debugging and fast-test mode."""

    def __init__(self, config, learner_state: dict | None):
        settings = config.settings
        training = settings.training
        num_shards = settings.replay.num_shards
        self.shards = [PrioritizedShard(settings.replay, i) for i in range(num_shards)]
        self.workers = [
            EnvWorker(
                settings.env,
                config.rl_module_spec,
                self.shards[shard_for_actor(i, num_shards)].add,
                **worker_kwargs(settings, i),
            )
            for i in range(training.num_actors)
        ]
        self.learner = LearnerWorker(config, self.shards, learner_state)
        self.cycles = training.collect_cycles
        self.updates = training.updates_per_round
        self.clock = RoundClock()
        self._publish()

    def _publish(self) -> None:
        weights = self.learner.get_weights()
        for worker in self.workers:
            worker.set_weights(weights)

    def run_round(self) -> dict[str, Any]:
        """Collect with every worker, train one round, publish weights."""
        actor_stats = [w.collect(self.cycles) for w in self.workers]
        start = time.monotonic()
        learner_stats = self.learner.train_round(self.updates)
        pipeline_metrics.record_learner(learner_stats, time.monotonic() - start)
        lags = [self.learner.weights_version - s["weights_version"] for s in actor_stats]
        self._publish()
        for i, stats in enumerate(actor_stats):
            pipeline_metrics.record_actor(i, stats)
        summary = summarize_round(actor_stats, [learner_stats])
        pipeline_metrics.record_round(*self.clock.rates(summary), lags)
        return summary

    def snapshot_replay(self) -> None:
        """Snapshot every shard into `replay.snapshot_dir` (nothing when it is unset)."""
        for shard in self.shards:
            if shard.config.snapshot_dir is not None:
                shard.snapshot()

    def learner_weights(self) -> dict:
        """The learner's latest inference weights."""
        return self.learner.get_weights()[0]

    def save_learner(self, path: Path) -> None:
        """Write the learner's part of a checkpoint (RLlib's Learner checkpoint) to `path`."""
        self.learner.learner.save_to_path(str(path))

    def restore_learner(self, path: Path) -> None:
        """Load the learner (modules, optimizers) from its part of a checkpoint."""
        self.learner.learner.restore_from_path(str(path))

    def shutdown(self) -> None:
        """Close the shards' logs."""
        for shard in self.shards:
            shard.close()


class RayRuntime:
    """Env actors, replay shard actors and a learner actor running concurrently."""

    def __init__(self, config, learner_state: dict | None):
        from actors.env_actor import EnvActor, packed_spec
        from learners.learner_actor import LearnerActor

        settings = config.settings
        training = settings.training
        _warn_if_oversubscribed(settings)
        max_restarts = training.max_restarts
        num_shards = settings.replay.num_shards
        self.snapshots = settings.replay.snapshot_dir is not None
        # Named shards: restartable actors find them by name (see replay.resolve_shard).
        prefix = f"apex-{uuid.uuid4().hex[:8]}"
        self.shards = make_shard_actors(
            settings.replay, num_shards, max_restarts=max_restarts, name_prefix=prefix
        )
        names = [shard_name(prefix, i) for i in range(num_shards)]
        num_gpus = learner_gpus(training.learner_num_gpus)
        learner_config = config.copy(copy_frozen=False).learners(num_gpus_per_learner=num_gpus)
        checkpoint_dir = training.checkpoint_dir
        self.learner = LearnerActor.options(
            num_cpus=training.learner_num_cpus,
            num_gpus=num_gpus,
            max_restarts=max_restarts,
        ).remote(learner_config, names, checkpoint_dir)
        if learner_state is not None:
            self.learner.set_state.remote(learner_state)  # runs before any train_round
        num_actors = training.num_actors
        actors = [
            EnvActor.options(
                # A spare reserves no CPU: idle, it must not keep an active actor waiting; once
                # it takes over, the failed actor restarts into the reservation and idles.
                num_cpus=training.actor_num_cpus if i < num_actors else 0.0,
                max_restarts=max_restarts,
                # Spread like the shards, so losing a node loses a share of each, not all.
                scheduling_strategy="SPREAD",
            ).remote(
                names[shard_for_actor(i, num_shards)],
                settings.env,
                packed_spec(config.rl_module_spec),
                actor_index=i,
                restart_as_spare=training.spare_actors > 0,
                max_backlog=settings.replay.actor_backlog_adds,
                **worker_kwargs(settings, i),
            )
            for i in range(num_actors + training.spare_actors)
        ]
        # Spares are built (seconds of imports) but idle: one takes over from a failed actor
        # at once, and the failed one, once Ray has restarted it, becomes a spare.
        self.actors, self.spares = actors[:num_actors], actors[num_actors:]
        self.cycles = training.collect_cycles
        self.updates = training.updates_per_round
        self.sync_every_s = training.weights_sync_every_s
        self.max_round_s = training.log_every_s
        self.learner_version = 0
        self.failures = {"actor": 0, "learner": 0}
        self.clock = RoundClock()
        self._last_sync = 0.0
        self._weights: ray.ObjectRef | None = None
        self._publish()
        self.collecting = {a.collect.remote(self.cycles): a for a in self.actors}
        self.training = self.learner.train_round.remote(self.updates)

    def _publish(self) -> None:
        """Ask the learner for its weights; `_forward_weights` hands them on once they exist.

        Actors get the weights only when they are ready: an actor given a pending ref would
        queue its next collect behind it, and the learner can be stalled (on a restarting
        shard, say), which must not stall the actors too.
        """
        if self._weights is None:
            self._weights = self.learner.get_weights.remote()
        self._last_sync = time.monotonic()

    def _forward_weights(self) -> None:
        if self._weights is None or not ray.wait([self._weights], timeout=0)[0]:
            return
        weights, self._weights = self._weights, None
        try:
            ray.get(weights)  # already local; raises if the learner died making it
        except ray.exceptions.RayError:
            return
        # One ray.put inside the learner; actors resolve the same object from the store.
        for actor in [*self.actors, *self.spares]:
            actor.set_weights.remote(weights)

    def run_round(self) -> dict[str, Any]:
        """Harvest actor results until the learner finishes a round (or the round times out)."""
        deadline = time.monotonic() + self.max_round_s
        actor_stats: list[dict] = []
        learner_stats: list[dict] = []
        lags: list[int] = []
        while time.monotonic() < deadline:
            self._forward_weights()
            waiting = [*self.collecting, *([self.training] if self.training else [])]
            ready, _ = ray.wait(
                waiting, num_returns=1, timeout=max(0.0, deadline - time.monotonic())
            )
            if not ready:
                break
            if self.training is not None and ready[0] == self.training:
                stats = self._learner_result()
                if stats is None:  # the learner died; Ray restarts it from the last checkpoint
                    retry = self.learner.train_round.options(max_task_retries=-1)
                    self.training = retry.remote(self.updates)
                    continue
                learner_stats.append(stats)
                self.learner_version = int(stats.get("weights_version", self.learner_version))
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
                stats = ray.get(ready[0])
                actor_stats.append(stats)
                lags.append(max(0, self.learner_version - int(stats["weights_version"])))
                collect = actor.collect
            except ray.exceptions.RayActorError as err:
                self.failures["actor"] += 1
                logger.warning("env actor failed (%s); Ray restarts it", first_line(err))
                actor, collect = self._replace(actor)
            self.collecting[collect.remote(self.cycles)] = actor
            if self.training is None:
                self.training = self.learner.train_round.remote(self.updates)
        if self.training is None:
            self.training = self.learner.train_round.remote(self.updates)
        summary = summarize_round(actor_stats, learner_stats)
        pipeline_metrics.record_round(*self.clock.rates(summary), lags)
        return summary

    def _replace(self, failed) -> tuple[Any, Any]:
        """The actor to collect instead of `failed`, and its collect method: a spare if there
        is one, else `failed` itself, its call held by Ray until the restart."""
        # The restarted policy copy gets the learner's weights at the next publish: make it soon.
        self._last_sync = 0.0
        if not self.spares:
            return failed, failed.collect.options(max_task_retries=-1)
        spare = self.spares.pop(0)
        self.actors[self.actors.index(failed)] = spare
        self.spares.append(failed)
        return spare, spare.collect

    def _learner_result(self) -> dict | None:
        try:
            return ray.get(self.training)
        except ray.exceptions.RayActorError as err:
            self.failures["learner"] += 1
            logger.warning("learner failed (%s); Ray restarts it", first_line(err))
            return None

    def drain(self) -> int:
        """Wait for the collects in flight and for the shards to acknowledge every add; return
        the transitions those collects reported. Collecting then goes on as before."""
        transitions = 0
        for ref, actor in self.collecting.items():
            try:
                transitions += ray.get(ref)["transitions"]
            except ray.exceptions.RayActorError:
                self.failures["actor"] += 1
                self._replace(actor)
        for flushed in [actor.flush.remote() for actor in self.actors]:
            with contextlib.suppress(ray.exceptions.RayActorError):
                ray.get(flushed)
        self.collecting = {a.collect.remote(self.cycles): a for a in self.actors}
        return transitions

    def snapshot_replay(self) -> None:
        """Snapshot every shard into `replay.snapshot_dir` (nothing when it is unset)."""
        if self.snapshots:
            ray.get([shard.snapshot.remote() for shard in self.shards])

    def learner_weights(self) -> dict:
        """The learner actor's latest inference weights."""
        return ray.get(self.learner.get_weights.options(max_task_retries=-1).remote())[0]

    def save_learner(self, path: Path) -> None:
        """The learner actor writes its part of a checkpoint to `path` on this node."""
        ray.get(self.learner.save_to_path.remote(str(path), ray.util.get_node_ip_address()))

    def restore_learner(self, path: Path) -> None:
        """The learner actor loads its part of a checkpoint from `path` on this node."""
        ray.get(self.learner.restore_from_path.remote(str(path), ray.util.get_node_ip_address()))

    def shutdown(self) -> None:
        """Kill the Ape-X actors, shards last so no call is left waiting for one."""
        for handle in [self.learner, *self.actors, *self.spares, *self.shards]:
            ray.kill(handle)


def learner_gpus(configured: float | None) -> float:
    """`training.learner_num_gpus`, or when it is null one GPU if the Ray cluster has any."""
    if configured is not None:
        return float(configured)
    return 1.0 if ray.cluster_resources().get("GPU", 0.0) >= 1 else 0.0


def _warn_if_oversubscribed(settings: Settings) -> None:
    """Say so when the actors ask for more CPUs than Ray has: some would wait, silently."""
    training, replay = settings.training, settings.replay
    # Spares reserve no CPU.
    demand = training.learner_num_cpus + training.num_actors * training.actor_num_cpus
    demand += replay.num_shards * replay.num_cpus
    have = ray.cluster_resources().get("CPU", 0.0)
    if demand > have + 1e-9:
        logger.warning(
            "the Ape-X actors ask for %.2f CPUs, Ray has %.2f: some wait until an autoscaler"
            " adds nodes; lower training.actor_num_cpus or replay.num_cpus to run them all now",
            demand,
            have,
        )


def make_runtime(config, learner_state: dict | None) -> LocalRuntime | RayRuntime:
    """The in-process runtime when `training.local` is set, else the Ray actors."""
    if config.settings.training.local:
        return LocalRuntime(config, learner_state)
    return RayRuntime(config, learner_state)
