"""The Ray Serve application: HTTP routes of the extender around an ExtenderService.

    POST {prefix}filter       ExtenderArgs -> ExtenderFilterResult
    POST {prefix}prioritize   ExtenderArgs -> HostPriorityList
    POST {prefix}{bind_verb}  ExtenderBindingArgs -> ExtenderBindingResult (404 while bind_verb
                              is null)
    GET  {prefix}healthz      {"ok": true, "policy": ...}; 503 while a watching replica has not
                              listed the nodes yet
    GET  {prefix}stats        the replica's counters (requests, fallbacks, carbon, bindings), its
                              node cache, the finished pods' run times it has seen, its
                              forecast's source and age, and what the policy saw for the last
                              decision it was asked for

A body over serve.max_body_bytes gets a 413 (serving/request_body.py); every error answer is a
short JSON {"Error": ...}. Answers to the extender verbs carry
`Server-Timing: ..., handler;dur=<ms>`: the time from the request's arrival at the replica to its
answer (with its body, parse and policy stages), which tells the replica's work from the HTTP
proxy's and the network's.

The policy's work (the observation rows it asks for top-down, its forward passes) runs in a
worker thread so parsing goes on meanwhile. A request alone in wanting the policy goes straight to
that thread (kube-scheduler calls one pod at a time); concurrent ones share one forward pass per
level through @serve.batch. A request whose policy answer is not back
within `deadline_ms` of its arrival at the replica gets best-fit's answer, counted as a fallback
(the HTTP proxy's hop before that is not counted: leave room for it in kube-scheduler's
httpTimeout).

With serve.node_source=watch each replica runs an Informer that lists and watches the API
server's nodes into its node cache, so kube-scheduler can send NodeNames only
(nodeCacheCapable: true); /stats shows the cache's size and the watch's last event age.
"""

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Mapping
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from marl_alloc.floor.settings import to_plain
from marl_alloc.serving.binding import Binder
from marl_alloc.serving.config import ServeConfig
from marl_alloc.serving.decisions import PolicyAnswer
from marl_alloc.serving.errors import shown
from marl_alloc.serving.informer import Informer
from marl_alloc.serving.kube_api import KubeApi
from marl_alloc.serving.metrics import ExtenderMetrics
from marl_alloc.serving.policy import Decision
from marl_alloc.serving.protocol import encode, error_body
from marl_alloc.serving.request_body import read_body
from marl_alloc.serving.service import VERBS, ExtenderService

JSON = "application/json"
logger = logging.getLogger(__name__)


@serve.deployment(name="SchedulerExtender")
class SchedulerExtender:
    """One replica: the policy, the node cache and the metrics (see the module docstring)."""

    def __init__(
        self,
        serve_config: Mapping[str, Any],
        checkpoint: str | None,
        heuristic: str,
        env_settings: Mapping[str, Any] | None,
    ):
        import torch

        # The level networks are small: more threads only contend with the HTTP work.
        torch.set_num_threads(1)
        config = ServeConfig.from_mapping(serve_config)
        policy = None
        if checkpoint:
            from marl_alloc.serving.policy import LevelQPolicy

            policy, settings = LevelQPolicy.from_checkpoint(checkpoint)
            env_settings = to_plain(settings.env)
        self.metrics = ExtenderMetrics(ray_metrics=True)
        self.service = ExtenderService(config, env_settings or {}, policy, heuristic, self.metrics)
        self.deadline_s = config.deadline_ms / 1e3
        self.max_body_bytes = config.max_body_bytes
        self.policy_name = "checkpoint" if policy is not None else heuristic
        self.bind_verb = config.bind_verb
        self.binder = None
        self.informer = self.pod_informer = None
        if config.needs_kube_api():
            api = KubeApi.from_config(config.kube_api)
            watch = config.node_watch
            if config.bind_verb is not None:
                self.binder = Binder(api, self.metrics, self.service.pod_bound)
            if config.node_source == "watch":
                self.informer = Informer(
                    api,
                    "nodes",
                    self.service.nodes,
                    self.metrics.node_cache,
                    watch.timeout_s,
                    watch.max_backoff_s,
                ).start()
            if config.watch_finished_pods:
                self.pod_informer = Informer(
                    api,
                    "pods",
                    self.service.run_times,
                    watch_timeout_s=watch.timeout_s,
                    max_backoff_s=watch.max_backoff_s,
                ).start()
        if self.service.forecasts is not None:
            # Once a second: a bin closes within a second of its end, and its forward runs then.
            self.service.forecasts.start(every_s=1.0)
        self._decide_batch.set_max_batch_size(config.batch.max_batch_size)
        self._decide_batch.set_batch_wait_timeout_s(config.batch.wait_timeout_s)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="policy")
        self._forwards = 0  # policy answers wanted and not yet back (abandoned ones included)
        # API calls wait on the network: their own threads, never the policy's.
        self._bind_pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="bind")

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.0)
    async def _decide_batch(self, batch: list[Decision]) -> list[PolicyAnswer | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._decide_in_time, batch)

    def _decide_in_time(self, batch: list[Decision]) -> list[PolicyAnswer | None]:
        """The policy's answers to the decisions still wanted; None for those whose deadline
        passed while they queued (their callers answered from best-fit already)."""
        # Under overload, computing answers nobody waits for only makes the queue longer.
        now = time.perf_counter()
        live = [decision for decision in batch if decision.due_s > now]
        answers = iter(self.service.policy.decide(live) if live else [])
        return [next(answers) if decision.due_s > now else None for decision in batch]

    async def _decide(self, decision: Decision) -> PolicyAnswer | None:
        """The policy's answer to one request: alone, straight to the policy thread (the batch
        queue's hop cost 0.4-0.8 ms at p50 on a 2-core machine); else batched with others."""
        self._forwards += 1
        try:
            if self._forwards == 1:
                loop = asyncio.get_running_loop()
                batch = [decision]
                (answer,) = await loop.run_in_executor(self._pool, self._decide_in_time, batch)
                return answer
            return await self._decide_batch(decision)
        finally:
            self._forwards -= 1

    async def _policy_answer(self, verb: str, decision: Decision, started: float):
        decision.due_s = started + self.deadline_s
        remaining = decision.due_s - time.perf_counter()
        if remaining <= 0:
            self.metrics.fallback(verb, "deadline")
            return None
        try:
            # shield: a timed-out request leaves its batch alone; its result is dropped.
            answer = await asyncio.wait_for(asyncio.shield(self._decide(decision)), remaining)
        except TimeoutError:
            answer = None
        except Exception:  # noqa: BLE001 - never fail the scheduler; count and fall back
            logger.exception("policy failed; answering with best-fit")
            self.metrics.fallback(verb, "error")
            return None
        if answer is None:  # past the deadline: timed out, or skipped in the policy's queue
            self.metrics.fallback(verb, "deadline")
        return answer

    async def __call__(self, request: Request) -> Response:
        """Route one HTTP request."""
        started = time.perf_counter()
        verb = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if request.method == "GET" and verb == "healthz":
            return self._health()
        if request.method == "GET" and verb == "stats":
            return JSONResponse(self._stats())
        if verb not in VERBS and (self.bind_verb is None or verb != self.bind_verb):
            served = " or ".join([*VERBS, *([self.bind_verb] if self.bind_verb else [])])
            message = f"no route '{shown(request.url.path)}' (POST {served})"
            if verb == "bind":
                message += "; binding is off: set serve.bind_verb=bind to serve it"
            return JSONResponse(error_body(message), status_code=404)
        if request.method != "POST":
            return JSONResponse(error_body(f"{verb} takes POST"), status_code=405)
        body = await read_body(request, self.max_body_bytes)
        if body is None:
            self.metrics.request(verb, 413)
            message = f"request body over serve.max_body_bytes ({self.max_body_bytes} bytes)"
            # Closing the connection is what stops the rest of the body being read.
            headers = {"Connection": "close"}
            return JSONResponse(error_body(message), status_code=413, headers=headers)
        if verb == self.bind_verb:
            loop = asyncio.get_running_loop()
            status, answer = await loop.run_in_executor(self._bind_pool, self.binder.handle, body)
            return _answer(answer, status, started)
        received = time.perf_counter()
        prepared, error = self.service.parse(verb, body)
        if prepared is None:
            return _answer(error, 400, started)
        parsed = time.perf_counter()
        decided = None
        if self.service.needs_policy(prepared):
            decided = await self._policy_answer(verb, prepared.decision, started)
        stages = {"body": received - started, "parse": parsed - received}
        stages["policy"] = time.perf_counter() - parsed
        answer = encode(self.service.answer(prepared, decided))
        self.metrics.request(verb, 200)
        return _answer(answer, 200, started, stages)

    def _health(self) -> Response:
        # A watching replica that has not listed the nodes yet would fail every node: not ready.
        if self.informer is None:
            return JSONResponse({"ok": True, "policy": self.policy_name})
        synced = bool(self.informer.synced)
        body = {"ok": synced, "policy": self.policy_name, "nodes_synced": synced}
        return JSONResponse(body, status_code=200 if synced else 503)

    def _stats(self) -> dict[str, Any]:
        if self.informer is not None:
            node_cache = self.informer.snapshot()
        else:
            node_cache = {"source": "request", "nodes": len(self.service.nodes)}
        run_times = self.service.run_times.snapshot()
        if self.pod_informer is not None:
            run_times["watch"] = self.pod_informer.snapshot()
        return {
            **self.metrics.snapshot(),
            "node_cache": node_cache,
            "run_times": run_times,
            "forecast": self.service.forecast_snapshot(),
            "last_decision": self.service.last_decision,
        }

    def __del__(self):
        forecasts = getattr(getattr(self, "service", None), "forecasts", None)
        threads = (getattr(self, "informer", None), getattr(self, "pod_informer", None), forecasts)
        for thread in threads:
            if thread is not None:
                thread.stop()
        if getattr(self, "metrics", None) is not None:
            self.metrics.close()


def _answer(
    body: bytes, status: int, started: float, stages: dict[str, float] | None = None
) -> Response:
    """A JSON response with the replica's time on it: Server-Timing `handler` (arrival to
    answer) and, for policy answers, its `body` (receiving), `parse` and `policy` stages."""
    timings = {**(stages or {}), "handler": time.perf_counter() - started}
    header = ", ".join(f"{name};dur={seconds * 1e3:.3f}" for name, seconds in timings.items())
    return Response(body, status_code=status, media_type=JSON, headers={"Server-Timing": header})


def build_app(
    config: ServeConfig,
    checkpoint: str | None,
    heuristic: str = "best-fit",
    env_settings: Mapping[str, Any] | None = None,
) -> serve.Application:
    """The extender application with the config's replicas and resources."""
    d = config.deployment
    deployment = SchedulerExtender.options(
        num_replicas=d.num_replicas,
        max_ongoing_requests=d.max_ongoing_requests,
        ray_actor_options={"num_cpus": d.num_cpus},
    )
    return deployment.bind(config.to_dict(), checkpoint, heuristic, dict(env_settings or {}))


def app_builder(args: dict[str, Any]) -> serve.Application:
    """Serve config entry point (`import_path: marl_alloc.serving.app:app_builder`), as in a
    KubeRay RayService: args {checkpoint, policy, overrides: ["serve.deadline_ms=20", ...]}."""
    from marl_alloc.serving.settings import serve_settings

    checkpoint = args.get("checkpoint")
    heuristic = args.get("policy", "best-fit")
    config, env_settings = serve_settings(checkpoint, list(args.get("overrides", [])))
    return build_app(config, checkpoint, heuristic, env_settings)
