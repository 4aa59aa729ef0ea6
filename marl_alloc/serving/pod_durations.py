"""PodDurations: the run time the policy may assume for a pending pod, and the estimator behind it.

It is the simulator's own envs.duration_knowledge.DurationKnowledge, built from the checkpoint's
env.knowledge, so a pod's duration features are made as a pending task's were in training:

- `estimate`: the same DurationEstimator with the same keys (envs.duration_knowledge.task_keys),
  coarse to fine: the datacenter (the cluster: one for every pod), scheduling class and priority
  (Kubernetes has no scheduling class, so every pod is class 0, as a trace task without one; its
  priority is the task priority class of spec.priority), the owner (the pod's workload,
  kube_objects.workload_of, as a stable 64-bit id), the owner and request shape (the pod's
  effective CPU and memory requests). It learns from finished pods' run times only
  (marl_alloc.serving.run_times); with none seen yet, the estimate is the prior.
- `none`: no run time (0 s, uncertainty 0).
- `oracle` reads true run times, which no cluster knows before a pod ends: refused.

The simulator has no notion of a run time its owner declares, so no pod annotation is read.

The estimator keeps moments per key for ever; to bound a long-running replica's memory the most
recent `kept` finished pods are kept, and each time as many more have finished the estimator is
rebuilt from them (older pods then fade out, as old workloads should).
"""

import dataclasses
import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.duration_knowledge import FINISHED_COLUMNS, KEY_LEVELS, DurationKnowledge, task_keys
from marl_alloc.floor.errors import UserError
from marl_alloc.floor.settings.env import KnowledgeConfig

CLUSTER = np.zeros(1, np.int64)  # the datacenter index of a pod: one cluster, one datacenter
SCHEDULING_CLASS = 0  # what a trace task without a scheduling class reads as
WINDOW_DTYPES = {"task_class": np.int64, "priority": np.int64, "owner": np.int64}
WINDOW_DTYPES |= {"cpu": np.float64, "mem": np.float64, "run_s": np.float64}
# What a pod's estimate rests on, finest first: its level in KEY_LEVELS and how it reads.
EVIDENCE = {
    "owner_shape": "its workload with these requests",
    "owner": "its workload",
    "class": "its priority class",
    "datacenter": "the cluster",
}


def owner_id(workload: str) -> int:
    """A workload name as a 64-bit owner id, the same in every process (unlike hash())."""
    digest = hashlib.blake2b(workload.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def task_columns(
    workloads: Sequence[str], priorities: Sequence[int], cpu: Sequence[float], mem: Sequence[float]
) -> dict[str, np.ndarray]:
    """Pods as the simulator's task columns an estimate is keyed by (requests in cores and
    bytes: a shape only has to equal itself)."""
    return {
        "task_class": np.full(len(workloads), SCHEDULING_CLASS, np.int64),
        "priority": np.asarray(priorities, np.int64),
        "owner": np.array([owner_id(w) for w in workloads], np.int64),
        "cpu": np.asarray(cpu, np.float64),
        "mem": np.asarray(mem, np.float64),
    }


@dataclasses.dataclass(frozen=True)
class DurationBelief:
    """What the policy is told of a pod's run time, and why."""

    seconds: float  # the simulator's duration_est_s
    uncertainty: float  # its duration_unc: log-space sigma
    source: str
    finished_pods: dict[str, int]  # per key level, the finished pods the estimate rests on

    def view(self) -> dict[str, Any]:
        """For GET /stats."""
        return {
            "seconds": round(self.seconds, 1),
            "uncertainty": round(self.uncertainty, 4),
            "source": self.source,
            "finished_pods": self.finished_pods,
        }


class PodDurations:
    """Pending pods' run-time beliefs, learnt from finished pods (thread-safe: an informer
    teaches, requests ask)."""

    def __init__(self, knowledge: KnowledgeConfig, kept: int):
        if knowledge.durations == "oracle":
            raise UserError(
                "the checkpoint was trained with env.knowledge.durations=oracle (true run times), "
                "which no cluster knows before a pod ends; serve one trained with estimate or none"
            )
        self.config = knowledge
        self.kept = kept
        self._knowledge = DurationKnowledge(knowledge)
        self._window = {k: np.zeros(kept, WINDOW_DTYPES[k]) for k in FINISHED_COLUMNS}
        self._filled = 0  # finished pods written to the window, all time
        self._since_rebuild = 0
        self._lock = threading.Lock()

    def learn(self, tasks: Mapping[str, np.ndarray]) -> None:
        """Finished pods as task columns (task_columns plus run_s), in the order they ended."""
        if self.config.durations != "estimate":
            return
        n = len(tasks["run_s"])
        if n > self.kept:  # only the last `kept` of them would stay
            tasks = {k: np.asarray(tasks[k])[n - self.kept :] for k in FINISHED_COLUMNS}
            self._filled += n - self.kept
            n = self.kept
        slots = (self._filled + np.arange(n)) % self.kept
        for k in FINISHED_COLUMNS:
            self._window[k][slots] = tasks[k]
        self._filled += n
        self._since_rebuild += n
        if self._since_rebuild < self.kept:
            with self._lock:
                self._knowledge.observe(np.zeros(n, np.int64), tasks)
            return
        # Only this (the informer's) thread writes, so the window holds still meanwhile; the
        # requests go on asking the old estimator until the new one is ready.
        fresh = DurationKnowledge(self.config)
        size = min(self._filled, self.kept)
        fresh.observe(np.zeros(size, np.int64), {k: v[:size] for k, v in self._window.items()})
        with self._lock:
            self._knowledge = fresh
        self._since_rebuild = 0

    def believe(self, workload: str, priority: int, cpu: float, mem: float) -> DurationBelief:
        """The run time a decision may assume for this pending pod now."""
        if self.config.durations == "none":
            return DurationBelief(0.0, 0.0, "none: env.knowledge.durations=none", {})
        tasks = task_columns([workload], [priority], [cpu], [mem])
        keys = task_keys(CLUSTER, tasks)
        with self._lock:
            # What DurationKnowledge.believed gives under estimate, from the keys made once.
            seconds, sigma = self._knowledge.estimator.estimate(keys)
            counts = self._knowledge.estimator.counts(keys)[0].tolist()
        counts = dict(zip(KEY_LEVELS, counts, strict=True))
        seen = [level for level in EVIDENCE if counts[level]]
        if seen:
            n = counts[seen[0]]
            source = f"estimate: {n} finished pod{'' if n == 1 else 's'} of {EVIDENCE[seen[0]]}"
        else:
            source = f"estimate: the prior, no finished pod seen ({self.config.prior_median_s} s)"
        return DurationBelief(float(seconds[0]), float(sigma[0]), source, counts)

    def snapshot(self) -> dict[str, Any]:
        """For GET /stats."""
        return {
            "knowledge": self.config.durations,
            "finished_pods_learnt": self._filled,
            "kept": min(self._filled, self.kept),
        }
