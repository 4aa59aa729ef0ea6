"""Run times of finished pods, per workload and priority class: what the extender can know of how
long a pod will run (the simulator's duration estimates are built the same way, from tasks that
have finished; a pod's own run time is never known before it ends).

A pod's run time is from status.startTime to the last container's terminated.finishedAt. Pods
come from the API server's list and watch of finished pods (serve.watch_finished_pods, through
a marl_alloc.serving.informer.Informer), each counted once by uid. Keys are
(kube_objects.workload_of, task priority class), the ones a pending pod is looked up by; the
most recent run times of each key are kept, and the least recently seen keys are forgotten past a
limit.
"""

import collections
import datetime as dt
import statistics
import threading
from typing import Any

import msgspec

from marl_alloc.serving.kube_api import WatchEvent
from marl_alloc.serving.kube_objects import priority_class, workload_of

FINISHED_PHASES = ("Succeeded", "Failed")
KEEP_PER_KEY = 256
KEEP_KEYS = 10_000
KEEP_UIDS = 100_000

Key = tuple[str, int]


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


class _Spec(msgspec.Struct):
    priority: int | None = None


class _Pod(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _Spec = msgspec.field(default_factory=_Spec)
    status: _Status = msgspec.field(default_factory=_Status)


_POD = msgspec.json.Decoder(_Pod)


def _seconds(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class PodRunTimes:
    """Recent run times of finished pods by (workload, priority class) (see the module
    docstring); thread-safe (an informer writes, requests read)."""

    def __init__(self, priority_thresholds: list[int], max_priority: int):
        self.priority_thresholds = list(priority_thresholds)
        self.max_priority = max_priority
        self.pods = 0  # finished pods counted
        self._times: collections.OrderedDict[Key, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._uids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.pods

    def key(self, pod: _Pod) -> Key:
        """The (workload, priority class) of a decoded pod."""
        meta = pod.metadata
        owners = [(ref.kind, ref.name, ref.controller is True) for ref in meta.ownerReferences]
        workload = workload_of(meta.namespace, meta.name, meta.generateName, meta.labels, owners)
        task_class = priority_class(
            pod.spec.priority or 0, self.priority_thresholds, self.max_priority
        )
        return workload, task_class

    def observe(self, raw: bytes) -> bool:
        """Count one pod (v1.Pod JSON) if it has finished and was not counted before."""
        pod = _POD.decode(raw)
        status = pod.status
        ends = [
            c.state.terminated.finishedAt
            for c in status.containerStatuses
            if c.state.terminated is not None and c.state.terminated.finishedAt
        ]
        if status.phase not in FINISHED_PHASES or not status.startTime or not ends:
            return False
        run_time = max(_seconds(end) for end in ends) - _seconds(status.startTime)
        key = self.key(pod)
        with self._lock:
            if pod.metadata.uid in self._uids:
                return False
            self._uids[pod.metadata.uid] = None
            if len(self._uids) > KEEP_UIDS:
                self._uids.popitem(last=False)
            times = self._times.setdefault(key, collections.deque(maxlen=KEEP_PER_KEY))
            times.append(max(run_time, 0.0))
            self._times.move_to_end(key)
            if len(self._times) > KEEP_KEYS:
                self._times.popitem(last=False)
            self.pods += 1
        return True

    def apply(self, event: WatchEvent) -> None:
        """A pod from a watch event; a deleted pod's last state counts too (a pod deleted as it
        ends may never be seen finished otherwise)."""
        self.observe(event.object)

    def replace(self, pods: list[tuple[str, str, bytes]]) -> None:
        """A fresh list of (name, resourceVersion, v1.Pod JSON)."""
        for _, _, raw in pods:
            self.observe(raw)

    def summary(self, key: Key) -> dict[str, Any]:
        """How many run times of `key` are kept and their median (seconds)."""
        with self._lock:
            times = list(self._times.get(key, ()))
        median = round(statistics.median(times), 1) if times else None
        workload, task_class = key
        count = len(times)
        return {
            "workload": workload,
            "priority_class": task_class,
            "count": count,
            "median_s": median,
        }

    def snapshot(self) -> dict[str, Any]:
        """Totals for /stats."""
        with self._lock:
            return {"finished_pods": self.pods, "workloads": len(self._times)}
