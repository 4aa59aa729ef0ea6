"""Hostile requests: bodies over serve.max_body_bytes are refused before (or as soon as) they pass
the limit, no answer echoes a request unbounded, and no body, however mangled, gets a 5xx."""

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marl_alloc.serving.errors import ERROR_CHARS
from marl_alloc.serving.request_body import read_body
from tests.marl_alloc.serving.kube_state import extender_args
from tests.marl_alloc.serving.test_deadline import replica_for

MB = 2**20


def request(path: str, chunks: list[bytes], content_length: int | None = None):
    """A starlette Request whose body arrives in `chunks`; `.received` counts the chunks read."""
    from starlette.requests import Request

    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers,
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
    }
    pending = list(chunks)

    async def receive():
        received.append(1)
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    received: list[int] = []
    made = Request(scope, receive)
    made.received = received
    return made


def run(coroutine):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_a_declared_length_over_the_limit_is_refused_unread():
    big = request("/prioritize", [b"x" * 100] * 5, content_length=500)
    assert run(read_body(big, limit=200)) is None and big.received == []


def test_a_stream_over_the_limit_is_refused_as_soon_as_it_passes_it():
    chunked = request("/prioritize", [b"x" * 100] * 50)
    assert run(read_body(chunked, limit=250)) is None and len(chunked.received) == 3
    small = request("/prioritize", [b"ab", b"cd"], content_length=4)
    assert run(read_body(small, limit=4)) == b"abcd"


@pytest.fixture(scope="module")
def replica(ray_session, ten):
    return replica_for(ten, max_body_bytes=MB, carbon={"threshold_g_per_kwh": 0.0})


def answer(replica, path: str, body: bytes, content_length: int | None = None):
    response = run(replica(request(path, [body], content_length)))
    return response.status_code, response.body, response.headers


@pytest.mark.ray
def test_an_oversized_body_is_a_413_that_closes_the_connection(replica):
    status, body, headers = answer(replica, "/prioritize", b"{}", content_length=200 * MB)
    assert status == 413 and headers["connection"] == "close"
    error = json.loads(body)["Error"]
    assert "serve.max_body_bytes" in error and "\n" not in error
    status, _, _ = answer(replica, "/filter", b" " * (MB + 1))
    assert status == 413


@pytest.mark.ray
def test_a_huge_pod_name_does_not_come_back(replica, ten):
    args = extender_args(ten.env)
    args["Pod"]["metadata"]["name"] = "p" * (MB // 2)
    ok_status, ok_body, _ = answer(replica, "/prioritize", json.dumps(args).encode())
    assert ok_status == 200 and len(ok_body) < 10_000
    args["Pod"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "x" * (MB // 4)
    status, body, _ = answer(replica, "/filter", json.dumps(args).encode())
    assert status == 400 and len(body) < ERROR_CHARS + 100
    assert f"({MB // 2} characters)" in json.loads(body)["Error"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
PATHS = st.sampled_from(["/filter", "/prioritize", "/bind", "/nope", "/"])


@pytest.mark.ray
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=PATHS,
    body=st.one_of(
        st.binary(max_size=300),
        JSON.map(lambda doc: json.dumps(doc).encode()),
        st.fixed_dictionaries({"Pod": JSON, "Nodes": JSON, "NodeNames": JSON}).map(
            lambda doc: json.dumps(doc).encode()
        ),
    ),
)
def test_no_body_gets_a_server_error(replica, path, body):
    status, answer_body, _ = answer(replica, path, body)
    assert 200 <= status < 500
    if status >= 400:
        error = json.loads(answer_body)["Error"]
        assert isinstance(error, str) and error and len(error) < ERROR_CHARS + 50
