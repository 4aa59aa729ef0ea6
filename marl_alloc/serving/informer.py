"""Informer: follows one kind of API object into a sink, as client-go's informers do.

List the objects, then watch from the list's resourceVersion with bookmarks (the `kubernetes`
client's Watch, marl_alloc.serving.kube_api), handing every event to the sink and moving the
resourceVersion with it. A watch that ends (the server's timeoutSeconds, a dropped connection)
is resumed from there; a 410 Gone (the resourceVersion compacted away, as an HTTP status or an
ERROR event) lists again. Failures retry with exponential backoff.

Nodes go into the NodeCache (serve.node_source=watch: kube-scheduler can then send NodeNames
only, nodeCacheCapable: true); finished pods into PodRunTimes (serve.watch_finished_pods).
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from marl_alloc.serving.errors import RequestError
from marl_alloc.serving.kube_api import KubeApi, KubeApiError, WatchEvent

GONE = 410
# A watch ending sooner than this without an event counts as a failure (backoff, not a spin).
QUICK_END_S = 1.0
logger = logging.getLogger(__name__)


class Sink(Protocol):
    """Where an informer's objects go (NodeCache, PodRunTimes)."""

    def __len__(self) -> int: ...

    def replace(self, objects: list[tuple[str, str, bytes]]) -> None:
        """A fresh list: (name, resourceVersion, JSON) of every object."""

    def apply(self, event: WatchEvent) -> None:
        """One ADDED, MODIFIED or DELETED event."""


class Informer:
    """Lists and watches `resource` into `sink` in a daemon thread (see the module docstring);
    `publish(objects, last event age)` is called on every event and every few seconds."""

    def __init__(
        self,
        api: KubeApi,
        resource: str,
        sink: Sink,
        publish: Callable[[int, float | None], None] | None = None,
        watch_timeout_s: float = 300.0,
        max_backoff_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        self.api = api
        self.resource = resource
        self.sink = sink
        self.publish = publish
        self.watch_timeout_s = watch_timeout_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock
        self.resource_version = ""
        self.synced = False  # a list has been applied
        self.last_event_s: float | None = None  # the last list, event or bookmark
        self.lists = 0
        self.events = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, refresh_s: float = 5.0) -> "Informer":
        """Run in daemon threads: the list/watch loop, and one refreshing the metrics every
        `refresh_s` (the event age grows while the watch is quiet)."""
        name = self.resource
        self._threads = [
            threading.Thread(target=self.run, name=f"{name}-informer", daemon=True),
            threading.Thread(
                target=self._refresh, args=(refresh_s,), name=f"{name}-metrics", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Ask the threads to end (a watch blocked on a quiet stream ends with the stream)."""
        self._stop.set()

    def run(self) -> None:
        """List, then watch, until stopped; relist on 410 Gone, back off on failures."""
        backoff = 0.0
        while not self._stop.is_set():
            try:
                if not self.resource_version:
                    self.relist()
                events, started = self.events, time.monotonic()
                self.watch()
                if self.events == events and time.monotonic() - started < QUICK_END_S:
                    raise KubeApiError("the watch ended at once without an event")
                backoff = 0.0
            except KubeApiError as err:
                if err.status != GONE:
                    backoff = self._back_off(backoff, err)
                    continue
                gone = "%s watch: resourceVersion %s is gone; listing again"
                logger.info(gone, self.resource, self.rv_text)
                self.resource_version = ""
            except Exception as err:  # noqa: BLE001 - the informer must outlive any failure
                backoff = self._back_off(backoff, err)

    def _back_off(self, backoff: float, err: Exception) -> float:
        """Wait the next backoff after a failure; the backoff."""
        backoff = min(max(2 * backoff, 0.5), self.max_backoff_s)
        logger.warning("%s watch failed (%s); retrying in %.1f s", self.resource, err, backoff)
        self._stop.wait(backoff)
        return backoff

    @property
    def rv_text(self) -> str:
        """The resourceVersion for logs."""
        return self.resource_version or "(none)"

    def relist(self) -> None:
        """Give the sink a fresh list of the objects."""
        resource_version, objects = self.api.list_objects(self.resource)
        self.sink.replace(objects)
        self.resource_version = resource_version
        self.synced = True
        self.lists += 1
        self._seen()

    def watch(self) -> None:
        """Follow one watch stream from the current resourceVersion until it ends."""
        events = self.api.watch_objects(self.resource, self.resource_version, self.watch_timeout_s)
        for event in events:
            if self._stop.is_set():
                return
            self.apply(event)

    def apply(self, event: WatchEvent) -> None:
        """Hand one watch event to the sink (a bookmark only moves the resourceVersion)."""
        if event.type != "BOOKMARK":
            try:
                self.sink.apply(event)
            except (RequestError, msgspec.ValidationError, ValueError) as err:
                # One odd object must not stop the watch.
                logger.warning("%s watch: skipping %s: %s", self.resource, event.name, err)
        if event.resource_version:
            self.resource_version = event.resource_version
        self.events += 1
        self._seen()

    def _seen(self) -> None:
        self.last_event_s = self.clock()
        self._publish()

    def _publish(self) -> None:
        if self.publish is not None:
            self.publish(len(self.sink), self.last_event_age_s())

    def _refresh(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self._publish()

    def last_event_age_s(self) -> float | None:
        """Seconds since the last list, event or bookmark; None before the first list."""
        return None if self.last_event_s is None else max(self.clock() - self.last_event_s, 0.0)

    def snapshot(self) -> dict[str, Any]:
        """The informer's state for /stats."""
        age = self.last_event_age_s()
        return {
            "source": "watch",
            self.resource: len(self.sink),
            "synced": self.synced,
            "resource_version": self.resource_version,
            "last_event_age_s": None if age is None else round(age, 3),
            "lists": self.lists,
            "events": self.events,
        }
