"""What the collector's tests share: the test sources and their keys, request helpers, storage
scenarios, events as storage sees them, and the random histories of the profile properties.
Tests import these from here, never from conftest.py or from one another."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import itertools
import json
import pathlib
import selectors
import subprocess
import sys
import time
import typing

from hypothesis import strategies as st
from starlette.testclient import TestClient

from visitrail.collector.profiles import Graph, Link
from visitrail.collector.storage import Event, Storage, open_storage
from visitrail.collector.storage.db import Transaction
from visitrail.collector.storage.sql import SQLStorage
from visitrail.collector.storage.sqlite import MIGRATIONS
from visitrail.collector.timestamps import format_timestamp, parse_timestamp
from visitrail.collector.tokens import issue_identity_token

WRITE_KEY = "wk_test_123"
NEWEST = max(migration.version for migration in MIGRATIONS)  # the schema version a collector writes


OTHER_KEY = "wk_other"


ADMIN_TOKEN = "admin-secret"


ORIGIN = "http://127.0.0.1:8000"


OTHER_ORIGIN = "http://other.test:9000"


NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, 500000, tzinfo=datetime.UTC)


def basic(key: str, colon: bool = True) -> dict[str, str]:
    token = base64.b64encode(f"{key}{':' if colon else ''}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def track(n: int = 0, **fields: typing.Any) -> dict[str, typing.Any]:
    return {"type": "track", "event": f"Event {n}", "anonymousId": "A1", "messageId": f"m-{n}", **fields}


def stored(client: TestClient, **filters: str) -> list[dict[str, typing.Any]]:
    response = client.get("/api/events", params=filters, headers=admin())
    assert response.status_code == 200, response.text
    return response.json()["events"]


def run(url: str, scenario: typing.Callable[[Storage], typing.Awaitable[typing.Any]]) -> typing.Any:
    """Open the storage at `url`, await scenario(storage), close it; the scenario's result."""

    async def main() -> typing.Any:
        storage = open_storage(url)
        await storage.connect()
        try:
            return await scenario(storage)
        finally:
            await storage.disconnect()

    return asyncio.run(main())


T0 = "2026-11-25T12:00:00.000Z"


def message(
    message_id: str,
    type: str = "track",
    *,
    userId: str | None = None,
    anonymousId: str | None = None,
    timestamp: str = T0,
    session: str | None = None,
    write_key: str = "wk",
    traitsOnce: dict[str, typing.Any] | None = None,
    **fields: typing.Any,
) -> Event:
    """An Event as messages.normalise would make it; `traitsOnce` goes in its context."""
    body: dict[str, typing.Any] = {
        "type": type,
        "messageId": message_id,
        "timestamp": timestamp,
        "userId": userId,
        "anonymousId": anonymousId,
    }
    body.update(fields)
    if session is not None:
        body["context"] = {"sessionId": session}
    if traitsOnce is not None:
        body["context"] = {**body.get("context", {}), "traitsOnce": traitsOnce}
    return Event(
        write_key=write_key,
        message_id=message_id,
        type=type,
        anonymous_id=anonymousId,
        user_id=userId,
        event=fields.get("event"),
        timestamp=timestamp,
        original_timestamp=None,
        sent_at=None,
        received_at=T0,
        body=json.dumps(body),
        session_id=session,
    )


ORPHANS = """
SELECT (SELECT COUNT(*) FROM events WHERE profile_id IS NULL OR (profile_id NOT IN (SELECT id FROM profiles)
                                                              AND profile_id NOT IN (SELECT loser FROM merged))),
       (SELECT COUNT(*) FROM identities WHERE profile_id NOT IN (SELECT id FROM profiles)),
       (SELECT COUNT(*) FROM traits WHERE profile_id NOT IN (SELECT id FROM profiles)),
       (SELECT COUNT(*) FROM profiles WHERE id NOT IN (SELECT profile_id FROM identities)),
       (SELECT COUNT(*) FROM merged WHERE survivor NOT IN (SELECT id FROM profiles)
                                       OR loser IN (SELECT id FROM profiles)),
       (SELECT COUNT(*) FROM profile_log WHERE profile_id NOT IN (SELECT id FROM profiles)
                                           AND profile_id NOT IN (SELECT loser FROM merged))
"""


def orphans(storage: Storage) -> tuple[int, ...]:
    """Rows pointing at no profile (an event or a log entry: at none a merge forwards to), and
    profiles no ID points at: (events, identities, traits, profiles, merged, log)."""
    assert isinstance(storage, SQLStorage)
    with storage.transaction(write=False) as db:
        return tuple(db.all(ORPHANS)[0])


V1_SCHEMA = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, write_key TEXT NOT NULL, message_id TEXT NOT NULL,
    type TEXT NOT NULL, anonymous_id TEXT, user_id TEXT, event TEXT, timestamp TEXT NOT NULL,
    original_timestamp TEXT, sent_at TEXT, received_at TEXT NOT NULL, body TEXT NOT NULL,
    UNIQUE (write_key, message_id)
);
CREATE INDEX events_anonymous_id ON events (anonymous_id);
CREATE INDEX events_user_id ON events (user_id);
"""


class Replay:
    """Feeds messages to one Graph as a collector would, numbering events in arrival order."""

    def __init__(self) -> None:
        ids = itertools.count(1)
        self.graph = Graph(new_id=lambda: f"p{next(ids)}")
        self.event_ids = itertools.count(1)

    def send(self, type: str = "track", timestamp: str = "2026-01-01T00:00:00.000Z", **ids: typing.Any) -> str | None:
        link = Link(
            next(self.event_ids),
            type,
            timestamp,
            ids.get("userId"),
            ids.get("anonymousId"),
            ids.get("previousId"),
            ids.get("traits"),
            traits_once=ids.get("traitsOnce"),
        )
        profile = self.graph.apply(link)
        return None if profile is None else profile.id

    def of(self, kind: str, value: str) -> str:
        profile = self.graph.profile_of((kind, value))
        assert profile is not None, (kind, value)
        return profile.id

    def ids(self, kind: str, value: str) -> tuple[list[str], list[str]]:
        profile = self.graph.profiles[self.of(kind, value)]
        return sorted(profile.user_ids), sorted(profile.anonymous_ids)

    def traits(self, kind: str, value: str) -> dict[str, typing.Any]:
        return {k: t.value for k, t in self.graph.profiles[self.of(kind, value)].traits.items()}

    def event_profiles(self) -> dict[int, str]:
        return self.graph.final_event_profiles()


USERS = st.sampled_from(["u1", "u2", "u3"])


ANONS = st.sampled_from(["a1", "a2", "a3", "a4"])


TIMES = st.sampled_from([f"2026-01-0{d}T00:00:00.000Z" for d in range(1, 6)])


TRAITS = st.dictionaries(st.sampled_from(["plan", "email", "name"]), st.integers(0, 3), max_size=2)


# Set-once traits: "plan" is also a regular trait's key (a set-once value outranks a regular one).
TRAITS_ONCE = st.dictionaries(st.sampled_from(["signup", "plan"]), st.integers(0, 3), min_size=1, max_size=2)


@st.composite
def messages(draw: st.DrawFn, alias: bool = True) -> dict[str, typing.Any]:
    kinds = ["track", "identify"] + (["alias"] if alias else [])
    kind = draw(st.sampled_from(kinds))
    message: dict[str, typing.Any] = {"type": kind, "timestamp": draw(TIMES)}
    if kind == "alias":
        message.update(userId=draw(USERS), previousId=draw(st.one_of(USERS, ANONS)))
        if draw(st.booleans()):
            message["anonymousId"] = draw(ANONS)
        return message
    message["userId"] = draw(st.one_of(st.none(), USERS))
    if message["userId"] is None or draw(st.booleans()):
        message["anonymousId"] = draw(ANONS)
    if kind == "identify":
        message["traits"] = draw(TRAITS)
        if draw(st.booleans()):
            message["traitsOnce"] = draw(TRAITS_ONCE)
    return message


SECRET = "identity-secret-for-tests-0123456789"


# Every source of the tests: a token's aud names the sources it is for (tokens.py).
AUDIENCE = [WRITE_KEY, OTHER_KEY, "wk_verified", "wk_required", "wk_required_calls"]


def token(uid: str = "U1", **kwargs: typing.Any) -> str:
    kwargs.setdefault("audience", AUDIENCE)
    return issue_identity_token(SECRET, uid, 3600, **kwargs)


STARTUP_SECONDS = 30


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The process's next stdout line, waiting at most `timeout` seconds."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                return process.stdout.readline()
    raise TimeoutError(f"no output within {timeout} s")


def visitrail_command() -> list[str]:
    script = pathlib.Path(sys.executable).with_name("visitrail")
    return [str(script)] if script.exists() else [sys.executable, "-m", "visitrail.collector.cli"]


SITE = "https://shop.test"


def visit(
    session: str,
    anonymous_id: str,
    start: str,
    pages: typing.Sequence[tuple[str, int | None]],
    *,
    entry_suffix: str = "",
    referrer: str | None = None,
    campaign: dict[str, str] | None = None,
    user_id: str | None = None,
    bot: bool = False,
) -> list[dict[str, typing.Any]]:
    """A browser visit in the wire format, as the SDK sends it: a page view of each (path,
    engagedMs) a minute apart, each followed by its Page Left (none for None); the session's entry
    (the first page, with `entry_suffix`: a query or a fragment), referrer and campaign on every
    event; an identify with `user_id` 10 s in; `context.automation` when `bot`."""
    at = parse_timestamp(start)
    assert at is not None
    entry = {"url": SITE + pages[0][0] + entry_suffix, "referrer": referrer or ""}
    out: list[dict[str, typing.Any]] = []

    def add(type: str, moment: datetime.datetime, path: str, **fields: typing.Any) -> None:
        context: dict[str, typing.Any] = {
            "sessionId": session,
            "page": {"url": entry["url"] if not out else SITE + path, "path": path, "referrer": referrer or ""},
            "sessionEntry": entry,
        }
        if campaign:
            context["campaign"] = campaign
        if bot:
            context["automation"] = True
        out.append({"type": type, "messageId": f"{session}-{len(out)}", "anonymousId": anonymous_id,
                    "timestamp": format_timestamp(moment), "context": context, **fields})  # fmt: skip

    for n, (path, engaged) in enumerate(pages):
        moment = at + datetime.timedelta(minutes=n)
        add("page", moment, path, name=path)
        if n == 0 and user_id is not None:
            add("identify", moment + datetime.timedelta(seconds=10), path, userId=user_id)
        if engaged is not None:
            left = {"engagedMs": engaged, "scrollDepth": 50, "path": path}
            add("track", moment + datetime.timedelta(seconds=30), path, event="Page Left", properties=left)
    return out


def as_events(messages: typing.Iterable[dict[str, typing.Any]], write_key: str = "wk") -> list[Event]:
    """Events as the tracking pipeline makes them from messages (visit's), without the HTTP layer:
    a bot's when its context says automation (bots.py)."""
    return [
        Event(
            write_key=write_key,
            message_id=m["messageId"],
            type=m["type"],
            anonymous_id=m.get("anonymousId"),
            user_id=m.get("userId"),
            event=m.get("event", m.get("name")),
            timestamp=m["timestamp"],
            original_timestamp=None,
            sent_at=None,
            received_at=m["timestamp"],
            body=json.dumps(m),
            session_id=m["context"]["sessionId"],
            bot=bool(m["context"].get("automation")),
        )
        for m in messages
    ]


def statements(storage: SQLStorage) -> list[tuple[str, typing.Sequence[typing.Any]]]:
    """Record every read statement of `storage` from now on."""
    seen: list[tuple[str, typing.Sequence[typing.Any]]] = []
    original = storage.transaction

    class Recording(Transaction):
        def all(self, sql: str, params: typing.Sequence[typing.Any] = ()) -> list[tuple[typing.Any, ...]]:
            seen.append((sql, params))
            return super().all(sql, params)

    @contextlib.contextmanager
    def transaction(write: bool, exclusive: bool = False) -> typing.Iterator[Transaction]:
        with original(write, exclusive) as db:
            yield Recording(db.connection, db.placeholder)

    storage.transaction = transaction  # type: ignore[method-assign]
    return seen
