"""Run times of finished pods, taught to the pod duration estimator (marl_alloc.serving.
pod_durations) as the simulator teaches its estimator the run times of finished tasks; a pod's
own run time is never known before it ends.

A pod's run time is from status.startTime to the last container's terminated.finishedAt. Pods
come from the API server's list and watch of finished pods (serve.watch_finished_pods, through
a marl_alloc.serving.informer.Informer), each counted once by uid, and are keyed as a pending
pod is: workload (kube_objects.workload_of), task priority class, effective requests.
"""

import collections
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from marl_alloc.serving.errors import RequestError, shown
from marl_alloc.serving.kube_api import WatchEvent
from marl_alloc.serving.kube_objects import effective_requests, priority_class, workload_of
from marl_alloc.serving.pod_durations import PodDurations, task_columns

FINISHED_PHASES = ("Succeeded", "Failed")
KEEP_UIDS = 100_000

logger = logging.getLogger(__name__)


class _OwnerReference(msgspec.Struct):
    kind: str = ""
    name: str = ""
    controller: bool | None = None


class _Meta(msgspec.Struct):
    uid: str = ""
    name: str = ""
    generateName: str = ""
    namespace: str = "default"
    labels: dict[str, str] = {}
    ownerReferences: list[_OwnerReference] = []


class _Terminated(msgspec.Struct):
    finishedAt: str | None = None


class _State(msgspec.Struct):
    terminated: _Terminated | None = None


class _ContainerStatus(msgspec.Struct):
    state: _State = msgspec.field(default_factory=_State)


class _Status(msgspec.Struct):
    phase: str = ""
    startTime: str | None = None
    containerStatuses: list[_ContainerStatus] = []


class _Pod(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    # As a plain document: kube_objects.effective_requests reads it as it reads a pending pod's.
    spec: dict[str, Any] = {}
    status: _Status = msgspec.field(default_factory=_Status)


_POD = msgspec.json.Decoder(_Pod)


def _seconds(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclasses.dataclass(frozen=True)
class FinishedPod:
    """What a finished pod teaches: its keys as a pending pod's, and how long it ran."""

    workload: str
    priority: int
    cpu: float
    mem: float
    run_s: float
    node: str  # spec.nodeName ("" if it never ran on one)
    ended_s: float  # Unix time its last container finished


class PodRunTimes:
    """Finished pods, counted once each, taught to `durations` (see the module docstring);
    an informer's sink."""

    def __init__(
        self,
        priority_thresholds: list[int],
        max_priority: int,
        durations: PodDurations,
        ended: Callable[[list[FinishedPod]], None] | None = None,
    ):
        # `ended` hears of each finished pod once, as the demand history's departures.
        self.ended = ended
        self.priority_thresholds = list(priority_thresholds)
        self.max_priority = max_priority
        self.durations = durations
        self.pods = 0  # finished pods counted
        self.skipped = 0  # finished pods whose spec could not be read (logged)
        self._uids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.pods

    def finished(self, raw: bytes) -> FinishedPod | None:
        """A pod (v1.Pod JSON) that has finished and was not counted before, else None (a pod
        that cannot be read is skipped, logged and counted: one odd pod must not stop a list)."""
        try:
            pod = _POD.decode(raw)
            meta, status = pod.metadata, pod.status
            ends = [
                c.state.terminated.finishedAt
                for c in status.containerStatuses
                if c.state.terminated is not None and c.state.terminated.finishedAt
            ]
            if status.phase not in FINISHED_PHASES or not status.startTime or not ends:
                return None
            where = f"finished pod '{shown(meta.namespace)}/{shown(meta.name)}'"
            cpu, mem = effective_requests(pod.spec, where)
            priority = pod.spec.get("priority") or 0
            if isinstance(priority, bool) or not isinstance(priority, int):
                raise RequestError(f"{where} spec.priority must be an integer")
            ended_s = max(_seconds(end) for end in ends)
            run_s = ended_s - _seconds(status.startTime)
            node = pod.spec.get("nodeName") or ""
            if not isinstance(node, str):
                raise RequestError(f"{where} spec.nodeName must be a string")
        except (msgspec.DecodeError, msgspec.ValidationError, RequestError, ValueError) as err:
            self.skipped += 1
            logger.warning("not learning from a pod's run time: %s", err)
            return None
        with self._lock:
            if meta.uid in self._uids:
                return None
            self._uids[meta.uid] = None
            if len(self._uids) > KEEP_UIDS:
                self._uids.popitem(last=False)
        owners = [(ref.kind, ref.name, ref.controller is True) for ref in meta.ownerReferences]
        return FinishedPod(
            workload=workload_of(meta.namespace, meta.name, meta.generateName, meta.labels, owners),
            priority=priority_class(priority, self.priority_thresholds, self.max_priority),
            cpu=cpu,
            mem=mem,
            run_s=max(run_s, 0.0),
            node=node,
            ended_s=ended_s,
        )

    def observe(self, raws: list[bytes]) -> int:
        """Teach the estimator the finished, not yet counted pods among `raws`; how many."""
        pods = [pod for pod in map(self.finished, raws) if pod is not None]
        if pods:
            tasks = task_columns(
                [p.workload for p in pods],
                [p.priority for p in pods],
                [p.cpu for p in pods],
                [p.mem for p in pods],
            )
            tasks["run_s"] = np.array([p.run_s for p in pods])
            self.durations.learn(tasks)
            self.pods += len(pods)
            if self.ended is not None:
                self.ended(pods)
        return len(pods)

    def apply(self, event: WatchEvent) -> None:
        """A pod from a watch event; a deleted pod's last state counts too (a pod deleted as it
        ends may never be seen finished otherwise)."""
        self.observe([event.object])

    def replace(self, pods: list[tuple[str, str, bytes]]) -> None:
        """A fresh list of (name, resourceVersion, v1.Pod JSON)."""
        self.observe([raw for _, _, raw in pods])

    def snapshot(self) -> dict[str, Any]:
        """Totals for /stats."""
        return {"finished_pods": self.pods, "skipped": self.skipped, **self.durations.snapshot()}
