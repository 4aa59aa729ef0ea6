"""NodeInformer: keeps a NodeCache equal to the API server's nodes (serve.node_source=watch).

As client-go's informers do: list /api/v1/nodes, then watch from the list's resourceVersion with
bookmarks (`?watch=1&resourceVersion=RV&allowWatchBookmarks=true`), applying ADDED, MODIFIED and
DELETED to the cache and moving RV with every event. A watch that ends (the server's
timeoutSeconds, a dropped connection) is resumed from RV; a 410 Gone (RV compacted away, as a
status or an ERROR event) relists. Failures retry with exponential backoff. kube-scheduler can
then send NodeNames only (nodeCacheCapable: true).
"""

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import msgspec

from marl_alloc.serving.errors import RequestError
from marl_alloc.serving.kube_api import KubeApi, KubeApiError
from marl_alloc.serving.metrics import ExtenderMetrics
from marl_alloc.serving.node_cache import NodeCache

NODES_PATH = "/api/v1/nodes"
GONE = 410
# A watch ending sooner than this without an event counts as a failure (backoff, not a spin).
QUICK_END_S = 1.0
logger = logging.getLogger(__name__)


class _Meta(msgspec.Struct):
    name: str = ""
    resourceVersion: str = ""


class _Head(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _NodeList(msgspec.Struct):
    items: list[msgspec.Raw]
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _WatchEvent(msgspec.Struct):
    type: str
    object: msgspec.Raw


class _Status(msgspec.Struct):
    code: int = 0
    message: str = ""


_HEAD = msgspec.json.Decoder(_Head)
_LIST = msgspec.json.Decoder(_NodeList)
_EVENT = msgspec.json.Decoder(_WatchEvent)
_STATUS = msgspec.json.Decoder(_Status)


class WatchGone(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


class NodeInformer:
    """Lists and watches nodes into `cache` in a daemon thread (see the module docstring)."""

    def __init__(
        self,
        api: KubeApi,
        cache: NodeCache,
        metrics: ExtenderMetrics | None = None,
        watch_timeout_s: float = 300.0,
        max_backoff_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        self.api = api
        self.cache = cache
        self.metrics = metrics or ExtenderMetrics()
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

    def start(self, refresh_s: float = 5.0) -> "NodeInformer":
        """Run in daemon threads: the list/watch loop, and one refreshing the metrics every
        `refresh_s` (the event age grows while the watch is quiet)."""
        self._threads = [
            threading.Thread(target=self.run, name="node-informer", daemon=True),
            threading.Thread(
                target=self._refresh, args=(refresh_s,), name="node-metrics", daemon=True
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
            except WatchGone:
                logger.info("node watch: resourceVersion %s is gone; listing again", self.rv_text)
                self.resource_version = ""
            except Exception as err:  # noqa: BLE001 - the informer must outlive any failure
                backoff = min(max(2 * backoff, 0.5), self.max_backoff_s)
                logger.warning("node watch failed (%s); retrying in %.1f s", err, backoff)
                self._stop.wait(backoff)

    @property
    def rv_text(self) -> str:
        """The resourceVersion for logs."""
        return self.resource_version or "(none)"

    def relist(self) -> None:
        """Replace the cache with a fresh list of the nodes."""
        nodes = _LIST.decode(self.api.get(NODES_PATH))
        listed = []
        for raw in nodes.items:
            meta = _HEAD.decode(raw).metadata
            listed.append((meta.name, meta.resourceVersion, bytes(raw)))
        self.cache.replace(listed)
        self.resource_version = nodes.metadata.resourceVersion
        self.synced = True
        self.lists += 1
        self._seen()

    def watch(self) -> None:
        """Follow one watch stream from the current resourceVersion until it ends."""
        query = urllib.parse.urlencode(
            {
                "watch": "1",
                "resourceVersion": self.resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": str(int(self.watch_timeout_s)),
            }
        )
        try:
            # Bookmarks come about once a minute: a read waits past the server's own timeout.
            with self.api.watch(f"{NODES_PATH}?{query}", self.watch_timeout_s + 30) as lines:
                for line in lines:
                    if self._stop.is_set():
                        return
                    if line.strip():
                        self.apply(line)
        except KubeApiError as err:
            if err.status == GONE:
                raise WatchGone(str(err)) from None
            raise

    def apply(self, line: bytes) -> None:
        """Apply one WatchEvent (a line of the stream) to the cache."""
        event = _EVENT.decode(line)
        if event.type == "ERROR":
            status = _STATUS.decode(event.object)
            if status.code == GONE:
                raise WatchGone(status.message)
            raise KubeApiError(f"watch error {status.code}: {status.message}", status.code)
        meta = _HEAD.decode(event.object).metadata
        if event.type in ("ADDED", "MODIFIED"):
            try:
                self.cache.put(meta.name, meta.resourceVersion, bytes(event.object))
            except RequestError as err:
                logger.warning("node watch: skipping node %s: %s", meta.name, err)
        elif event.type == "DELETED":
            self.cache.delete(meta.name)
        if meta.resourceVersion:
            self.resource_version = meta.resourceVersion
        self.events += 1
        self._seen()

    def _seen(self) -> None:
        self.last_event_s = self.clock()
        self._publish()

    def _publish(self) -> None:
        self.metrics.node_cache(len(self.cache), self.last_event_age_s())

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
            "nodes": len(self.cache),
            "synced": self.synced,
            "resource_version": self.resource_version,
            "last_event_age_s": None if age is None else round(age, 3),
            "lists": self.lists,
            "events": self.events,
        }
