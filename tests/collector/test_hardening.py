"""Hardening: rate limits, bodies refused while streaming, JSON depth, strict types, admin-only reads."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import tracemalloc
import typing

import pytest
from starlette.testclient import TestClient

from visitrail.collector.app import create_app
from visitrail.collector.body import MAX_DEPTH
from visitrail.collector.config import Config
from visitrail.collector.errors import ApiError
from visitrail.collector.ratelimit import RateLimiter
from visitrail.collector.storage.sqlite import SQLiteStorage

from .helpers import ADMIN_TOKEN, NOW, ORIGIN, OTHER_KEY, WRITE_KEY, admin, basic, stored, track


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.contextmanager
def limited(config: Config, rate: float, burst: int) -> typing.Iterator[tuple[TestClient, Clock]]:
    app = create_app(dataclasses.replace(config, rate_limit=rate, rate_burst=burst), clock=lambda: NOW)
    clock = Clock()
    app.state.rate_limiter.clock = clock
    with TestClient(app) as client:
        yield client, clock


def batch_of(count: int, start: int = 0) -> dict[str, typing.Any]:
    return {"batch": [track(n) for n in range(start, start + count)]}


# Rate limit


def test_rate_limit_is_per_write_key_with_retry_after(config: Config) -> None:
    with limited(config, rate=10, burst=20) as (client, clock):
        assert client.post("/v1/batch", json=batch_of(15), headers=basic(WRITE_KEY)).status_code == 200
        refused = client.post("/v1/batch", json=batch_of(10, 100), headers={**basic(WRITE_KEY), "Origin": ORIGIN})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"  # 5 tokens left, 10 needed, 10 a second
        assert refused.json()["code"] == "rate_limited" and "10 per second" in refused.json()["message"]
        assert refused.headers["access-control-allow-origin"] == ORIGIN  # the SDK can read it
        assert len(stored(client)) == 15  # the refused batch stored nothing
        assert client.post("/v1/track", json=track(200), headers=basic(OTHER_KEY)).status_code == 200
        clock.now += 0.5
        assert client.post("/v1/batch", json=batch_of(10, 100), headers=basic(WRITE_KEY)).status_code == 200


def test_a_batch_bigger_than_the_burst_waits_for_a_full_bucket_and_leaves_a_debt(config: Config) -> None:
    with limited(config, rate=10, burst=20) as (client, clock):
        assert client.post("/v1/batch", json=batch_of(50), headers=basic(WRITE_KEY)).status_code == 200
        refused = client.post("/v1/batch", json=batch_of(50, 100), headers=basic(WRITE_KEY))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"  # 30 owed + 20, at 10/s
        clock.now += 5
        assert client.post("/v1/batch", json=batch_of(50, 100), headers=basic(WRITE_KEY)).status_code == 200


def test_one_big_batch_cant_beat_the_rate(config: Config) -> None:
    # --rate-limit 10 --rate-burst 100 let 2,500 events through in 10.7 s: now the key then owes 240 s.
    with limited(config, rate=10, burst=100) as (client, clock):
        assert client.post("/v1/batch", json=batch_of(2500), headers=basic(WRITE_KEY)).status_code == 200
        refused = client.post("/v1/batch", json=batch_of(1, 5000), headers=basic(WRITE_KEY))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "241"
        clock.now += 240
        assert client.post("/v1/batch", json=batch_of(1, 5000), headers=basic(WRITE_KEY)).status_code == 429
        clock.now += 1
        assert client.post("/v1/batch", json=batch_of(1, 5000), headers=basic(WRITE_KEY)).status_code == 200


def test_invalid_batches_spend_nothing_of_the_keys_budget(config: Config) -> None:
    with limited(config, rate=10, burst=20) as (client, clock):
        junk = {"batch": [{"type": "track"}] * 30}  # 30 invalid messages
        for _ in range(13):
            assert client.post("/v1/batch", json=junk, headers=basic(WRITE_KEY)).status_code == 400
        assert client.post("/v1/batch", json=batch_of(20), headers=basic(WRITE_KEY)).status_code == 200


def test_requests_per_address_are_limited_whatever_they_carry(config: Config) -> None:
    app = create_app(dataclasses.replace(config, ip_rate_limit=2), clock=lambda: NOW)  # bursts of 4
    clock = Clock()
    app.state.address_limiter.clock = clock
    with TestClient(app) as client:
        for _ in range(4):
            assert client.post("/v1/batch", json=batch_of(1), headers=basic("wk_unknown")).status_code == 401
        refused = client.post("/v1/batch", json=batch_of(1), headers=basic(WRITE_KEY))
        assert refused.status_code == 429 and "from this address" in refused.json()["message"]
        assert client.post("/v1/calls", content=b"{").status_code == 429  # not even read
        clock.now += 1
        assert client.post("/v1/batch", json=batch_of(1), headers=basic(WRITE_KEY)).status_code == 200
        assert client.get("/healthz").status_code == 200  # reads and assets aren't tracking requests


def test_rate_limiter_refills_and_zero_disables() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 4, clock)
    limiter.take("k", 4)
    with pytest.raises(ApiError) as refused:
        limiter.take("k", 1)
    assert refused.value.status_code == 429 and refused.value.headers == {"Retry-After": "1"}
    clock.now += 0.5  # one token back
    limiter.take("k", 0)  # an empty batch still costs one
    with pytest.raises(ApiError):
        limiter.take("k", 1)
    clock.now += 3600  # never more than the burst
    limiter.take("k", 4)
    with pytest.raises(ApiError):
        limiter.take("k", 1)
    unlimited = RateLimiter(0, 1, clock)
    for _ in range(1000):
        unlimited.take("k", 2500)


def test_default_limits_are_generous(config: Config) -> None:
    assert config.rate_limit == 1000 and config.rate_burst == 5000
    from visitrail.collector.cli import build_parser, config_from_args

    parsed = config_from_args(build_parser().parse_args(["serve", "--rate-limit", "5", "--rate-burst", "50"]))
    assert (parsed.rate_limit, parsed.rate_burst) == (5, 50)


# Bodies: refused while streaming, before they are buffered


def post_stream(app: typing.Any, chunks: typing.Iterator[bytes]) -> tuple[int, dict[str, typing.Any], int]:
    """POST /v1/batch to the ASGI app with a chunked body pulled from `chunks` as the app asks for
    it; returns (status, JSON answer, chunks pulled)."""
    pulled = 0
    answer: dict[str, typing.Any] = {"status": None, "body": b""}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/batch", "raw_path": b"/v1/batch", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"transfer-encoding", b"chunked"), (b"authorization", basic(WRITE_KEY)["Authorization"].encode())],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip

    async def receive() -> dict[str, typing.Any]:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, typing.Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    async def main() -> None:
        storage = app.state.storage
        await storage.connect()
        try:
            await app(scope, receive, send)
        finally:
            await storage.disconnect()

    asyncio.run(main())
    return answer["status"], json.loads(answer["body"]), pulled


def test_a_50_mb_body_is_refused_without_being_buffered(config: Config) -> None:
    chunk = b" " * 65536
    total = 50 * 1024 * 1024 // len(chunk)  # 800 chunks of 64 KiB

    def body() -> typing.Iterator[bytes]:
        yield b'{"batch": ['
        for _ in range(total):
            yield chunk

    app = create_app(config, clock=lambda: NOW)
    tracemalloc.start()
    try:
        status, answer, pulled = post_stream(app, body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 400 and "500 KB" in answer["message"]
    assert pulled <= 10  # 500 KB and one chunk more, of the 801 on offer
    assert peak < 8 * 1024 * 1024  # never anywhere near 50 MB


def test_a_streamed_body_within_the_limit_is_stored(config: Config) -> None:
    data = json.dumps(batch_of(20)).encode()
    app = create_app(config, clock=lambda: NOW)
    status, answer, pulled = post_stream(app, (data[i : i + 100] for i in range(0, len(data), 100)))
    assert (status, answer) == (200, {"success": True}) and pulled > 10


# JSON depth and numbers


def nested(levels: int) -> typing.Any:
    value: typing.Any = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


def test_json_depth_is_limited(client: TestClient) -> None:
    # batch body (1) > batch array (2) > message (3) > properties (4) > ...: 64 levels in all are fine.
    ok = {"batch": [track(1, properties=nested(MAX_DEPTH - 3))]}
    assert client.post("/v1/batch", json=ok, headers=basic(WRITE_KEY)).status_code == 200
    deep = {"batch": [track(2, properties=nested(MAX_DEPTH - 2))]}
    response = client.post("/v1/batch", json=deep, headers=basic(WRITE_KEY))
    assert response.status_code == 400 and "64 levels" in response.json()["message"]
    array = b'{"batch": [], "x": ' + b"[" * 500 + b"]" * 500 + b"}"
    assert client.post("/v1/batch", content=array, headers=basic(WRITE_KEY)).status_code == 400
    assert len(stored(client)) == 1


@pytest.mark.parametrize("number", [b"1e400", b"-1e999", b"1" + b"0" * 5000])
def test_numbers_no_float_or_int_can_hold_are_400(client: TestClient, number: bytes) -> None:
    body = b'{"batch": [{"type": "track", "event": "E", "anonymousId": "A", "properties": {"n": ' + number + b"}}]}"
    response = client.post("/v1/batch", content=body, headers=basic(WRITE_KEY))
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"


# Strict types: each field of the wrong kind is its own 400


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"userId": True}, "userId must be a string or a number"),
        ({"userId": ["U1"]}, "userId must be a string or a number"),
        ({"anonymousId": {"id": "A"}}, "anonymousId must be a string or a number"),
        ({"userId": "u" * 513}, "userId must be at most 512 characters"),
        ({"properties": ["a"]}, "properties must be an object"),
        ({"properties": "a"}, "properties must be an object"),
        ({"context": 3}, "context must be an object"),
        ({"integrations": "All"}, "integrations must be an object"),
        ({"event": 3}, "track needs an 'event' string"),
        ({"event": ""}, "track needs an 'event' string"),
        ({"messageId": 12}, "messageId must be a string"),
        ({"timestamp": 1764000000}, "timestamp must be an ISO-8601"),
        ({"sentAt": "later"}, "sentAt must be an ISO-8601"),
        ({"properties": {"x": "a\u0000b"}}, "NUL character"),
        ({"properties": {"a\u0000": 1}}, "NUL character"),
        ({"type": "page", "name": 3}, "name must be a string"),
        ({"type": "group", "groupId": {"id": 1}}, "groupId must be a string or a number"),
        ({"type": "alias", "userId": "U", "previousId": False}, "previousId must be a string or a number"),
        ({"type": "identify", "traits": {"k" * 513: 1}}, "trait names must be at most 512 characters"),
    ],
)
def test_strict_types(client: TestClient, fields: dict[str, typing.Any], reason: str) -> None:
    response = client.post("/v1/batch", json={"batch": [track(0), track(1, **fields)]}, headers=basic(WRITE_KEY))
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["index"] == 1 and reason in error["reason"]
    assert stored(client) == []


def test_batch_level_text_that_cant_be_stored_is_400(client: TestClient) -> None:
    for body in ('{"batch": [], "context": {"x": "\\u0000"}}', '{"batch": [], "integrations": {"x": "\\udc00"}}'):
        response = client.post("/v1/batch", content=body, headers=basic(WRITE_KEY))
        assert response.status_code == 400 and "batch-level" in response.json()["message"]


def test_a_literal_backslash_u0000_is_just_text(client: TestClient) -> None:
    body = {"batch": [track(1, properties={"code": "\\u0000"})]}
    assert client.post("/v1/batch", json=body, headers=basic(WRITE_KEY)).status_code == 200
    assert stored(client)[0]["properties"] == {"code": "\\u0000"}


# Reads need the admin; every answer is locked down


READS = [
    ("GET", "/api/events"),
    ("GET", "/api/events?anonymousId=A1"),
    ("GET", "/api/events?profileId=p"),
    ("GET", "/api/profiles"),
    ("GET", "/api/profiles/lookup?userId=U1"),
    ("GET", "/api/profiles/p"),
    ("DELETE", "/api/profiles/p"),
    ("POST", "/api/test/fail-next"),
    ("GET", "/api/sessions"),
    ("GET", "/api/stats"),
    ("GET", "/api/stats?range=30d&bots=include"),
    ("GET", "/"),
    ("GET", "/?range=today"),
    ("GET", "/profiles"),
    ("GET", "/profiles?q=e"),
    ("GET", "/profiles/p"),
]


@pytest.mark.parametrize("method, path", READS)
def test_reads_without_the_admin_are_401_and_locked_down(config: Config, method: str, path: str) -> None:
    app = create_app(dataclasses.replace(config, test_hooks=True), clock=lambda: NOW)
    with TestClient(app) as client:
        client.post("/v1/batch", json={"batch": [track(1, userId="U1")]}, headers=basic(WRITE_KEY))
        for headers in ({}, {"Authorization": "Bearer wrong"}, basic(WRITE_KEY), {"Cookie": "visitrail_login=1.x"}):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (headers, response.text)
            assert "U1" not in response.text and "Event 1" not in response.text
            policy = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["cache-control"] == "no-store"
        # The admin gets in: the API by bearer token, the dashboard's pages by their cookie.
        assert client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False).status_code == 303
        assert client.request(method, path, headers=admin()).status_code != 401


def test_tracking_errors_are_locked_down_too(client: TestClient) -> None:
    for response in (
        client.post("/v1/batch", content=b"{", headers=basic(WRITE_KEY)),
        client.post("/v1/batch", json=batch_of(1)),
        client.post("/v1/nope", json={}),
        client.options("/v1/batch", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"}),
    ):
        assert response.status_code >= 400 and response.json()["code"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# A NUL in a path or a query, on every database (issue 16)

NUL_PATHS = [
    ("GET", "/api/profiles?query=%00"),
    ("GET", "/api/profiles?query=a%00b"),
    ("GET", "/api/profiles/lookup?userId=U1%00"),
    ("GET", "/api/profiles/lookup?anonymousId=%00"),
    ("GET", "/api/events?userId=%00"),
    ("GET", "/api/events?profileId=%00"),
    ("GET", "/api/profiles/%00"),
    ("DELETE", "/api/profiles/p%00"),
    ("GET", "/profiles/%00"),
    ("GET", "/profiles?q=%00"),
    ("GET", "/api/stats?range=%00"),
    ("GET", "/?range=today%00"),
]


def test_a_nul_in_a_path_or_query_is_400_on_every_database(config: Config, db_url: str) -> None:
    with TestClient(create_app(dataclasses.replace(config, db_url=db_url), clock=lambda: NOW)) as client:
        client.post("/v1/batch", json={"batch": [track(1, userId="U1")]}, headers=basic(WRITE_KEY))
        assert client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False).status_code == 303
        for method, path in NUL_PATHS:
            response = client.request(method, path, headers=admin())
            assert response.status_code == 400, (path, response.text)
            assert response.json()["code"] == "invalid_request"
            assert response.headers["x-content-type-options"] == "nosniff"


class Broken(SQLiteStorage):
    async def add_groups(self, groups: typing.Any) -> typing.Any:  # what add and group commits call
        raise RuntimeError("the disk caught fire")


def test_a_500_is_json_with_the_security_headers(config: Config) -> None:
    app = create_app(config, storage=Broken("sqlite:///:memory:"), clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/batch", json=batch_of(1), headers=basic(WRITE_KEY))
    assert response.status_code == 500 and response.json()["code"] == "internal_error"
    assert "disk" not in response.text  # the cause is logged, not told
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
