"""Property-based fuzzing of every /v1/* endpoint: arbitrary JSON, random bytes, random headers,
content types and gzip flags. Whatever arrives: never a 5xx, never part of a batch (an accepted
request stores exactly its new, valid, unrejected messages; a refused one stores nothing), no
identity token (nor an alias's proof of its previousId) in a stored body, and the app keeps
answering. Runs on SQLite and PostgreSQL, whose text columns and indexes refuse things SQLite takes
(NUL characters, very long keys).

Two kinds of requests: client traffic (a known write key, a body of the kind the path expects with
odd values where they reach the database, plain or gzip: most get that far), and hostile requests
(any path, headers, bytes or JSON, and Content-Encoding claims that may be false).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from visitrail.collector import raw_calls
from visitrail.collector.app import create_app
from visitrail.collector.auth import write_key_from
from visitrail.collector.config import Config, Source
from visitrail.collector.storage.sql import SQLStorage
from visitrail.collector.tokens import issue_identity_token
from visitrail.collector.tracking import KINDS
from visitrail.dev.postgres import PostgresServer

from .helpers import ADMIN_TOKEN, NOW, ORIGIN

SECRET = "fuzz-identity-secret-0123456789abcdef"
KEYS = {"wk_open": "open", "wk_verified": "verified", "wk_required": "required"}
TOKENS = [
    issue_identity_token(SECRET, "u1", 3600, audience=sorted(KEYS)),
    issue_identity_token(SECRET, "u1", 3600, now=time.time() - 7200, audience=sorted(KEYS)),
    issue_identity_token(SECRET, "7", 3600, audience=sorted(KEYS)),
    issue_identity_token(SECRET, "u2", 3600, audience=sorted(KEYS)),
    issue_identity_token(SECRET, "u1", 3600, audience="wk_another_site"),
    "not.a.token",
]
PATHS = [*sorted(KINDS), "calls", "m", "x", "batch/"]

# Values

ODD_TEXT = st.sampled_from(["", "\x00", "a\x00b", "\ud800", "é🙂", "<script>", "x" * 600, "\\u0000"])
# Mostly plain text, so that most messages get as far as the database (Hypothesis favours a
# one_of's first branches); the odd strings are what the database may choke on.
PLAIN_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=12)
TEXT = st.one_of(*[PLAIN_TEXT] * 12, st.text(max_size=12), ODD_TEXT)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
IDS = st.sampled_from(["u1", "u2", "7", "A1", "A2", ""]) | st.integers(-5, 10) | SCALARS
MESSAGE_IDS = st.none() | st.sampled_from([f"m{n}" for n in range(12)]) | TEXT | st.integers()
TIMES = st.none() | st.sampled_from(
    ["2026-11-25T11:59:00.000Z", "2026-11-25T12:00:00+01:00", "2026-11-25", "0001-01-01T00:00:00Z",
     "9999-12-31T23:59:59.999Z", "yesterday", ""]
) | JSON  # fmt: skip
CONTEXTS = (
    st.none()
    | JSON
    | st.fixed_dictionaries(
        {}, optional={"identityToken": st.sampled_from(TOKENS) | SCALARS, "sessionId": IDS, "page": JSON, "ip": TEXT}
    )
)
MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["identify", "track", "page", "screen", "group", "alias", "bogus"]) | SCALARS,
        "userId": IDS, "anonymousId": IDS, "previousId": IDS, "groupId": IDS, "messageId": MESSAGE_IDS,
        "event": TEXT | SCALARS, "name": TEXT | SCALARS, "traits": JSON, "properties": JSON, "context": CONTEXTS,
        "integrations": JSON, "timestamp": TIMES, "originalTimestamp": TIMES, "sentAt": TIMES,
        "writeKey": st.sampled_from(sorted(KEYS)) | SCALARS,
    },
)  # fmt: skip
PLAIN_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | PLAIN_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(PLAIN_TEXT, children, max_size=3),
    max_leaves=8,
)
# In plausible messages odd values go where they reach columns and indexes: IDs, names, trait keys.
OBJECTS = st.one_of(*[st.dictionaries(PLAIN_TEXT, PLAIN_JSON, max_size=4)] * 6, st.dictionaries(TEXT, JSON, max_size=2))
NAMES = st.one_of(*[st.sampled_from(["u1", "u2", "7", "A1", "A2"])] * 3, PLAIN_TEXT, TEXT, st.integers(-5, 10))
GOOD_TIMES = st.sampled_from(["2026-11-25T11:59:00.000Z", "2026-11-24T12:00:00+01:00", "2026-11-25T12:00:00.5"])


@st.composite
def plausible_messages(draw: st.DrawFn) -> dict[str, typing.Any]:
    """Messages that pass validation more often than not, with odd values where they reach the
    database's columns and indexes: IDs, names, trait keys."""
    kind = draw(st.sampled_from(["identify", "track", "page", "screen", "group", "alias"]))
    message_id = draw(st.one_of(*[st.sampled_from([f"m{n}" for n in range(12)])] * 4, st.none(), MESSAGE_IDS))
    message: dict[str, typing.Any] = {"type": kind, "anonymousId": draw(NAMES), "messageId": message_id}
    if kind == "alias" or draw(st.booleans()):
        message["userId"] = draw(NAMES)
    if kind == "alias":
        message["previousId"] = draw(NAMES)
    if kind == "group":
        message["groupId"] = draw(NAMES)
    if kind == "track":
        message["event"] = draw(TEXT)
    if kind in ("page", "screen") and draw(st.booleans()):
        message["name"] = draw(TEXT)
    if kind == "identify" and draw(st.booleans()):
        message["traits"] = {draw(TEXT): draw(PLAIN_JSON)}
    for field in ("traits", "properties", "context"):
        if field not in message and draw(st.booleans()):
            message[field] = draw(OBJECTS)
    if draw(st.booleans()):
        message.setdefault("context", {})["identityToken"] = draw(st.sampled_from(TOKENS))
    if kind == "alias" and draw(st.booleans()):  # the proof of previousId that merging a verified profile needs
        message.setdefault("context", {})["previousIdentityToken"] = draw(st.sampled_from(TOKENS))
    if draw(st.booleans()):
        message.setdefault("context", {})["sessionId"] = draw(NAMES)
    if kind == "identify" and draw(st.booleans()):  # set-once traits: their keys reach the traits table too
        message.setdefault("context", {})["traitsOnce"] = draw(
            st.one_of(st.dictionaries(TEXT, PLAIN_JSON, max_size=2), JSON)
        )
    message["timestamp"] = draw(GOOD_TIMES)
    return message


MESSAGE_OR_JUNK = st.one_of(plausible_messages(), plausible_messages(), plausible_messages(), MESSAGES, JSON)

# Raw calls
PAGES = st.none() | st.fixed_dictionaries({"path": TEXT, "url": TEXT}) | JSON
PLAUSIBLE_CALL = st.tuples(
    st.sampled_from(["identify", "track", "page", "group", "alias", "setAnonymousId"]),
    st.lists(NAMES | OBJECTS, max_size=3),
    st.sampled_from([1764072000000, 1764071000000]),
    st.sampled_from([f"c{n}" for n in range(12)]),
    st.none() | st.fixed_dictionaries({"path": TEXT, "url": TEXT}),
).map(list)
CALL = (
    PLAUSIBLE_CALL
    | PLAUSIBLE_CALL
    | PLAUSIBLE_CALL
    | st.tuples(
        st.sampled_from(
            [
                "identify",
                "track",
                "page",
                "group",
                "alias",
                "reset",
                "rotate",
                "setAnonymousId",
                "debug",
                "user.id",
                "fly",
            ]
        )
        | SCALARS,
        st.lists(JSON, max_size=3) | JSON,
        st.integers(0, 2**45) | st.sampled_from([1764072000000, -1, 2**60]) | SCALARS,
        st.sampled_from([f"c{n}" for n in range(12)]) | TEXT,
        PAGES,
    ).map(list)
    | JSON
)
BEACONS = st.fixed_dictionaries(
    {"calls": st.lists(CALL, max_size=5), "anonymousId": st.one_of(*[st.sampled_from(["A1", "A2"])] * 8, SCALARS)},
    optional={
        "writeKey": st.sampled_from(sorted(KEYS)),
        "userId": IDS,
        "session": st.none() | TEXT | st.just('{"id": "s", "startedAt": 1, "lastActivity": 2, "sequence": 1}'),
        "sentAt": TIMES, "identityToken": st.sampled_from(TOKENS) | SCALARS, "environment": JSON,
    },
)  # fmt: skip

# What a page's localStorage may hold, hand-edited or written by a buggy page: records of the SDK's
# shape with odd IDs and numbers of any size (JSON's text, so digits past what Python reads too).
HUGE_NUMBERS = (st.integers(0, 30) | st.sampled_from([4299, 4300, 5000])).map(lambda digits: "1" + "0" * digits)
SESSION_NUMBERS = st.sampled_from([1, 1764000000000, 1764071990000]) | st.integers() | st.floats(allow_nan=False)
SESSION_RECORDS = st.one_of(
    st.fixed_dictionaries(
        {
            "id": st.one_of(ODD_TEXT, ODD_TEXT, TEXT, IDS),
            "startedAt": SESSION_NUMBERS,
            "lastActivity": SESSION_NUMBERS,
            "sequence": SESSION_NUMBERS,
        }
    ).map(json.dumps),
    st.tuples(TEXT, HUGE_NUMBERS).map(
        lambda pair: json.dumps({"id": pair[0], "startedAt": 1, "lastActivity": 2, "sequence": 0}).replace(
            '"sequence": 0', f'"sequence": {pair[1]}'
        )
    ),
)
ODD_NAMES = st.one_of(st.sampled_from(["u1", "E", "A3"]), ODD_TEXT)
ODD_OBJECTS = st.dictionaries(ODD_NAMES, ODD_NAMES | PLAIN_JSON, max_size=2)
ODD_ARGS = {
    "track": st.tuples(ODD_NAMES, ODD_OBJECTS),
    "identify": st.tuples(ODD_NAMES, ODD_OBJECTS),
    "page": st.tuples(),
    "group": st.tuples(ODD_NAMES, ODD_OBJECTS),
    "alias": st.tuples(ODD_NAMES),
    "setAnonymousId": st.tuples(ODD_NAMES),
    "rotate": st.tuples(),
}
ODD_CALL = st.sampled_from(sorted(ODD_ARGS)).flatmap(
    lambda method: st.tuples(
        st.just(method),
        ODD_ARGS[method].map(list),
        st.sampled_from([1764072000000, 1764071000000]),
        st.sampled_from([f"c{n}" for n in range(12)]),
        st.none() | st.fixed_dictionaries({"path": ODD_NAMES}),
    ).map(list)
)
ODD_BEACONS = st.fixed_dictionaries(
    {"calls": st.lists(ODD_CALL, min_size=1, max_size=5), "anonymousId": st.sampled_from(["A1", "A2"]),
     "session": SESSION_RECORDS | st.none(), "writeKey": st.sampled_from(sorted(KEYS))},
    optional={"userId": st.sampled_from(["u1", "7"]) | ODD_TEXT, "identityToken": st.sampled_from(TOKENS),
              "environment": st.fixed_dictionaries({}, optional={"locale": ODD_TEXT, "timezone": ODD_TEXT}),
              "sessionTimeout": SCALARS},
)  # fmt: skip

BATCHES = st.fixed_dictionaries(
    {"batch": st.lists(MESSAGE_OR_JUNK, max_size=6)},
    optional={"sentAt": TIMES, "context": CONTEXTS, "integrations": JSON, "writeKey": st.sampled_from(sorted(KEYS))},
)


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
VALID_AUTH = [f"Basic {base64.b64encode(f'{key}:'.encode()).decode()}" for key in KEYS]
JUNK_AUTH = [None, "Basic !!!", "Bearer x", "Basic " + base64.b64encode(b"wk_nope:").decode()]
HEADERS = st.fixed_dictionaries(
    {"Authorization": st.sampled_from(VALID_AUTH + JUNK_AUTH) | HEADER_TEXT},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"]
        ) | HEADER_TEXT,
        "Origin": st.sampled_from([ORIGIN, "http://evil.test", "null"]) | HEADER_TEXT,
        "X-Forwarded-For": HEADER_TEXT,
        "User-Agent": HEADER_TEXT,
    },
).map(lambda headers: {name: value for name, value in headers.items() if value is not None})  # fmt: skip


def encoded(draw: st.DrawFn, content: bytes, headers: dict[str, str], encodings: list[str | None]) -> bytes:
    encoding = draw(st.sampled_from(encodings))
    if encoding in ("gzip", "x-gzip"):
        content = gzip.compress(content)
    if encoding == "gzip-flag-only":  # says gzip, isn't
        encoding = "gzip"
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return content


@st.composite
def traffic(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str], typing.Any]:
    """Requests a client might send: a known write key, a body of the path's kind (whose messages
    may still be invalid), plain or gzipped. (path, content, headers, body as sent)"""
    path = draw(st.sampled_from(["batch", "b", "calls", "track", "identify", "page", "a", "g"]))
    headers = {"Authorization": draw(st.sampled_from(VALID_AUTH)), "Content-Type": "text/plain"}
    fitting = BEACONS if path == "calls" else BATCHES if KINDS[path] == "batch" else plausible_messages()
    body = draw(fitting)
    content = json.dumps(body, ensure_ascii=True).encode()  # ASCII escapes carry lone surrogates
    return path, encoded(draw, content, headers, [None, "gzip"]), headers, body


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str], typing.Any]:
    """Anything: any path, any headers, any JSON or bytes, any encoding, true or not."""
    path = draw(st.sampled_from(PATHS))
    headers = draw(HEADERS)
    if draw(st.booleans()):
        body, content = None, draw(st.binary(max_size=300))
    else:
        body = draw(st.one_of(BATCHES, BEACONS, MESSAGES, JSON))
        content = json.dumps(body, ensure_ascii=True).encode()
    encodings = [None, "gzip", "gzip-flag-only", "identity", "br", "x-gzip", "GZIP, br"]
    return path, encoded(draw, content, headers, encodings), headers, body


# The collectors under test: one per database, shared by every example


def make_config(db_url: str) -> Config:
    return Config(
        sources=[Source(key, (ORIGIN,), identity=mode, identity_secret=SECRET) for key, mode in KEYS.items()],
        admin_token=ADMIN_TOKEN,
        db_url=db_url,
        assets_dir="/nonexistent",
        rate_limit=0,  # the limiters have their own tests; here they would only make counts depend on timing
        ip_rate_limit=0,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(request: pytest.FixtureRequest, postgres_server: PostgresServer | None) -> typing.Iterator[TestClient]:
    if request.param == "sqlite":
        with TestClient(create_app(make_config("sqlite:///:memory:"), clock=lambda: NOW)) as client:
            yield client
        return
    if postgres_server is None:
        pytest.skip("no PostgreSQL")
    with postgres_server.database() as url, TestClient(create_app(make_config(url), clock=lambda: NOW)) as client:
        yield client


def stored_ids(client: TestClient) -> set[tuple[str, str]]:
    """(write key, messageId) of every stored event."""
    storage = client.app.state.storage  # type: ignore[attr-defined]
    assert isinstance(storage, SQLStorage)
    with storage.transaction(write=False) as db:
        return {(key, message_id) for key, message_id in db.all("SELECT write_key, message_id FROM events")}


def count(client: TestClient) -> int:
    storage = client.app.state.storage  # type: ignore[attr-defined]
    with storage.transaction(write=False) as db:
        return int(db.all("SELECT COUNT(*) FROM events")[0][0])


def expected_new(
    path: str, body: typing.Any, headers: dict[str, str], rejected: set[int], before: set[tuple[str, str]]
) -> int:
    """How many rows an accepted request must add: its messages minus rejected ones and duplicates
    (of each other, or of what was stored `before`)."""
    if path == "m":
        return 0
    if path == "calls":
        expanded = raw_calls.expand(body)
        messages = [m for m, index in zip(expanded.items, expanded.indexes, strict=True) if index not in rejected]
        key = write_key_from(headers.get("Authorization"), body, [])
    else:
        items = body["batch"] if KINDS[path] == "batch" else [body]
        messages = [m for index, m in enumerate(items) if index not in rejected]
        key = write_key_from(headers.get("Authorization"), body, items)
    assert key is not None
    seen, new = set(before), 0
    for message in messages:
        message_id = message.get("messageId")
        if not message_id:
            new += 1  # the collector makes one up: always new
        elif (key, message_id) not in seen:
            seen.add((key, message_id))
            new += 1
    return new


def check(client: TestClient, path: str, content: bytes, headers: dict[str, str], body: typing.Any) -> int:
    """Send one request and check the invariants; returns its status."""
    before = stored_ids(client)
    rows_before = count(client)
    response = client.post(f"/v1/{path}", content=content, headers=headers, follow_redirects=False)
    assert response.status_code < 500, response.text
    assert not 300 <= response.status_code < 400, response.headers
    assert response.headers["content-type"].startswith("application/json"), response.headers
    answer = response.json()
    expected = 0
    if response.status_code == 200:
        rejected = {entry["index"] for entry in answer.get("rejected", [])}
        expected = expected_new(path, body, headers, rejected, before)
    else:
        assert answer["code"] and answer["message"], answer
    assert count(client) - rows_before == expected, (response.status_code, answer)
    return response.status_code


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=traffic())
def test_fuzz_client_traffic(fuzzed: TestClient, request: tuple[str, bytes, dict[str, str], typing.Any]) -> None:
    check(fuzzed, *request)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=hostile())
def test_fuzz_hostile_requests(fuzzed: TestClient, request: tuple[str, bytes, dict[str, str], typing.Any]) -> None:
    check(fuzzed, *request)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=ODD_BEACONS, gzipped=st.booleans())
def test_fuzz_beacons_with_odd_records_and_arguments(
    fuzzed: TestClient, body: dict[str, typing.Any], gzipped: bool
) -> None:
    content = json.dumps(body, ensure_ascii=True).encode()
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if gzipped:
        content, headers["Content-Encoding"] = gzip.compress(content), "gzip"
    check(fuzzed, "calls", content, headers, body)


def test_after_fuzzing_the_app_is_up_and_bodies_are_clean(fuzzed: TestClient) -> None:
    assert fuzzed.get("/healthz").json() == {"ok": True}
    ok = {"batch": [{"type": "track", "event": "After", "anonymousId": "A1", "messageId": "after-fuzz"}]}
    response = fuzzed.post("/v1/batch", json=ok, headers={"Authorization": VALID_AUTH[0]})
    assert response.status_code == 200
    events = fuzzed.get("/api/events", params={"limit": "10000"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert events.status_code == 200
    for event in events.json()["events"]:
        assert "identityToken" not in (event.get("context") or {})
        assert "previousIdentityToken" not in (event.get("context") or {})
        assert json.loads(json.dumps(event, allow_nan=False)) == event  # strict JSON, every one
    assert fuzzed.get("/api/profiles", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200
