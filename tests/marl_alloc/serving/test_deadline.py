"""The deployment class in-process (no HTTP proxy): past the deadline, or when the policy fails,
best-fit answers at once and a fallback is counted. A lone request goes straight to the policy
thread; @serve.batch (concurrent ones) only runs inside a replica, so these tests give the
instance an unbatched call there (the HTTP tests cover batching)."""

import asyncio
import concurrent.futures
import json
import time

import pytest

from envs import HEURISTICS
from marl_alloc.serving.app import SchedulerExtender
from tests.marl_alloc.serving.conftest import app_config
from tests.marl_alloc.serving.kube_state import extender_args

pytestmark = pytest.mark.ray


def http_request(method: str, path: str, body: bytes = b""):
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
    }

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def call(replica, method: str, path: str, body=None) -> tuple[int, object]:
    status, answer, _ = timed_call(replica, method, path, body)
    return status, answer


def timed_call(replica, method: str, path: str, body=None) -> tuple[int, object, float]:
    """(status, JSON answer, seconds until the answer) of one call on a fresh event loop."""
    data = json.dumps(body).encode() if body is not None else b""

    async def timed():
        start = time.perf_counter()
        response = await replica(http_request(method, path, data))
        return response, time.perf_counter() - start

    # asyncio.run would also wait for a policy thread still sleeping after the answer.
    loop = asyncio.new_event_loop()
    try:
        response, seconds = loop.run_until_complete(timed())
        # A timed-out policy call is still pending (by design): drop it with the loop.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
    finally:
        loop.close()
    return response.status_code, json.loads(response.body), seconds


def replica_for(scenario, decide=None, **extra):
    """The deployment's class, its policy call replaced by `decide(batch)` run in a thread."""
    config = app_config(scenario, **extra).to_dict()
    replica = SchedulerExtender.func_or_class(config, str(scenario.checkpoint), "best-fit", None)
    decide = decide or replica.service.policy.decide
    replica.service.policy.decide = decide

    pool = concurrent.futures.ThreadPoolExecutor(1)

    async def unbatched(decision):
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(pool, decide, [decision]))[0]

    replica._decide_batch = unbatched
    return replica


def best_fit_top(env) -> str:
    return f"node-{HEURISTICS['best-fit']().choose_host(env)[0]:04d}"


def top(priorities) -> str:
    return max(priorities, key=lambda p: p["Score"])["Host"]


def test_within_the_deadline_the_policy_answers(ray_session, ten):
    replica = replica_for(ten)
    status, priorities = call(replica, "POST", "/prioritize", extender_args(ten.env))
    assert status == 200
    assert "fallbacks" not in call(replica, "GET", "/stats")[1]["counts"]
    status, error = call(replica, "POST", "/prioritize", {"Pod": {}})
    assert status == 400 and error["Error"]


def test_zero_deadline_answers_with_best_fit_and_counts_it(ray_session, ten):
    replica = replica_for(ten, deadline_ms=0.0)
    status, priorities = call(replica, "POST", "/prioritize", extender_args(ten.env))
    assert status == 200
    assert top(priorities) == best_fit_top(ten.env)
    counts = call(replica, "GET", "/stats")[1]["counts"]
    assert counts["fallbacks/prioritize/deadline"] == 1 and counts["fallbacks"] == 1


def test_a_slow_policy_does_not_hold_up_the_answer(ray_session, ten):
    def slow(batch):
        time.sleep(1.0)
        raise AssertionError("the answer must not wait for this")

    replica = replica_for(ten, decide=slow, deadline_ms=100.0)
    status, priorities, seconds = timed_call(replica, "POST", "/prioritize", extender_args(ten.env))
    assert seconds < 0.8
    assert status == 200 and top(priorities) == best_fit_top(ten.env)
    assert call(replica, "GET", "/stats")[1]["counts"]["fallbacks/prioritize/deadline"] == 1


def test_a_failing_policy_falls_back_instead_of_failing_the_scheduler(ray_session, ten):
    def broken(batch):
        raise RuntimeError("weights on fire")

    replica = replica_for(ten, decide=broken)
    status, priorities = call(replica, "POST", "/prioritize", extender_args(ten.env))
    assert status == 200 and top(priorities) == best_fit_top(ten.env)
    assert call(replica, "GET", "/stats")[1]["counts"]["fallbacks/prioritize/error"] == 1


def test_a_lone_request_skips_the_batch_queue_and_company_takes_it(ray_session, ten):
    replica = replica_for(ten)
    batched = []
    unbatched = replica._decide_batch

    async def counted(decision):
        batched.append(decision)
        return await unbatched(decision)

    replica._decide_batch = counted
    body = json.dumps(extender_args(ten.env)).encode()

    async def two_at_once():
        calls = [replica(http_request("POST", "/prioritize", body)) for _ in range(2)]
        return await asyncio.gather(*calls)

    assert call(replica, "POST", "/prioritize", extender_args(ten.env))[0] == 200
    assert batched == []
    loop = asyncio.new_event_loop()
    try:
        first, second = loop.run_until_complete(two_at_once())
    finally:
        loop.close()
    assert first.status_code == second.status_code == 200 and first.body == second.body
    assert len(batched) == 1
    assert "fallbacks" not in call(replica, "GET", "/stats")[1]["counts"]


def test_decisions_past_their_deadline_are_not_computed(ray_session, ten):
    asked = []

    def recorded(batch):
        asked.extend(batch)
        return [object() for _ in batch]

    replica = replica_for(ten, decide=recorded)
    body = json.dumps(extender_args(ten.env)).encode()
    late, due = (replica.service.prepare("prioritize", body).decision for _ in range(2))
    late.due_s = time.perf_counter() - 1.0
    due.due_s = time.perf_counter() + 60.0
    answers = replica._decide_in_time([late, due])
    assert asked == [due]
    assert answers[0] is None and answers[1] is not None
