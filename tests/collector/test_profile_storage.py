"""Profiles in storage, one suite for every backend (`db_url`: SQLite in memory and on disk, PostgreSQL).

What profiles.py decides is tested in test_profiles.py; here: that each backend stores it, in the
batch's transaction, reads it back, searches it, survives concurrent writers, rebuilds it from the
events table, and migrates older databases.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import pathlib
import sqlite3
import threading
import typing
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visitrail.collector.storage import Event, Storage, open_storage
from visitrail.collector.storage.sql import SQLStorage

from .helpers import NEWEST, T0, V1_SCHEMA, Replay, message, messages, orphans, run


async def opened(url: str) -> Storage:
    storage = open_storage(url)
    await storage.connect()
    return storage


def brief(sessions: list[dict[str, typing.Any]]) -> list[dict[str, typing.Any]]:
    """Sessions as versions before the sessions table listed them (test_sessions.py reads the rest)."""
    return [{key: s[key] for key in ("sessionId", "firstSeen", "lastSeen", "eventCount")} for s in sessions]


async def lookup(storage: Storage, **ids: str) -> dict[str, typing.Any]:
    profile_id = await storage.find_profile(**ids)
    assert profile_id is not None, ids
    profile = await storage.profile(profile_id)
    assert profile is not None
    return profile


def test_profiles_are_built_and_merged_across_batches(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(
            [message("m1", anonymousId="A1", session="s1"), message("m2", anonymousId="A1", session="s1")]
        )
        phone = await storage.find_profile(anonymous_id="A2")
        assert phone is None
        await storage.add([message("m3", anonymousId="A2", timestamp="2026-11-25T11:00:00.000Z")])
        phone = await storage.find_profile(anonymous_id="A2")
        assert phone is not None
        await storage.add([message("m4", "identify", userId="U1", anonymousId="A1", traits={"email": "u@x"})])
        await storage.add([message("m5", userId="U1", anonymousId="A2", timestamp="2026-11-25T13:00:00.000Z")])
        profile = await lookup(storage, user_id="U1")
        assert profile == {
            "profileId": profile["profileId"],
            "userIds": ["U1"],
            "anonymousIds": ["A1", "A2"],
            "traits": {"email": "u@x"},
            "eventCount": 5,
            "firstSeen": "2026-11-25T11:00:00.000Z",
            "lastSeen": "2026-11-25T13:00:00.000Z",
            "verified": False,
            "sessions": profile["sessions"],
        }
        assert brief(profile["sessions"]) == [{"sessionId": "s1", "firstSeen": T0, "lastSeen": T0, "eventCount": 2}]
        assert phone != profile["profileId"] and await storage.profile(phone) is None  # merged away
        events = [e for e in await storage.profile_events(profile["profileId"]) if not e.get("derived")]
        assert [e["messageId"] for e in events] == ["m5", "m4", "m2", "m1", "m3"]  # newest first, then by arrival
        assert await storage.profile_events(phone) == []

    run(db_url, scenario)


def test_shared_device_and_alias_are_stored(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add([message("m1", "identify", userId="alice", anonymousId="A", traits={"name": "Alice"})])
        await storage.add([message("m2", "identify", userId="bob", anonymousId="A", traits={"name": "Bob"})])
        alice, bob = await lookup(storage, user_id="alice"), await lookup(storage, user_id="bob")
        assert (alice["anonymousIds"], bob["anonymousIds"]) == (["A"], [])
        assert (alice["traits"], bob["traits"]) == ({"name": "Alice"}, {"name": "Bob"})
        await storage.add([message("m3", "alias", userId="bob", previousId="alice")])
        merged = await lookup(storage, anonymous_id="A")
        assert merged["profileId"] == bob["profileId"] and merged["userIds"] == ["alice", "bob"]
        assert merged["traits"] == {"name": "Bob"} and merged["eventCount"] == 3

    run(db_url, scenario)


def test_a_late_identify_does_not_overwrite_newer_traits(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        new = message("m1", "identify", userId="U", timestamp="2026-11-25T12:00:00.000Z", traits={"plan": "pro"})
        old = message(
            "m2", "identify", userId="U", timestamp="2026-11-20T12:00:00.000Z", traits={"plan": "free", "a": [1]}
        )
        await storage.add([new])
        await storage.add([old])
        assert (await lookup(storage, user_id="U"))["traits"] == {"a": [1], "plan": "pro"}

    run(db_url, scenario)


AT9, AT12, AT13 = "2026-11-25T09:00:00.000Z", "2026-11-25T12:00:00.000Z", "2026-11-25T13:00:00.000Z"
# Two devices of one user, each with set-once and regular traits: the laptop's profile survives the
# merge, the phone's (whose events arrive later, some made earlier) merges into it.
LAPTOP = [
    message("l1", "identify", anonymousId="laptop", timestamp=AT12,
            traitsOnce={"early": "laptop", "late": "laptop", "keep": "laptop"},
            traits={"newer": "laptop", "older": "laptop", "plan": "laptop"}),
    message("l2", "identify", userId="U", anonymousId="laptop", timestamp=AT12),
]  # fmt: skip
PHONE = [
    message("p1", "identify", anonymousId="phone", timestamp=AT9,
            traitsOnce={"early": "phone", "plan": "phone"}, traits={"older": "phone", "only": "phone"}),
    message("p2", "identify", anonymousId="phone", timestamp=AT13,
            traitsOnce={"late": "phone"}, traits={"keep": "phone", "newer": "phone"}),
]  # fmt: skip
# Each key by rule 5: the earliest set-once value; a set-once value over a regular one; the newest
# regular value.
MERGED_TRAITS = {"early": "phone", "late": "laptop", "keep": "laptop", "plan": "phone", "newer": "phone",
                 "older": "laptop", "only": "phone"}  # fmt: skip


@pytest.mark.parametrize("batches", ["one-by-one", "one-batch"])
def test_set_once_traits_across_a_merge_are_stored_and_rebuilt(db_url: str, batches: str) -> None:
    """One by one, the merge moves the phone's traits in storage (MERGE_TRAITS: the merging event
    names no trait); in one batch, in the graph."""
    history = [*LAPTOP, *PHONE, message("link", userId="U", anonymousId="phone", timestamp=AT13)]

    async def scenario(storage: Storage) -> None:
        for batch in [[e] for e in history] if batches == "one-by-one" else [history]:
            await storage.add(batch)
        live = await lookup(storage, user_id="U")
        assert live["anonymousIds"] == ["laptop", "phone"] and live["traits"] == MERGED_TRAITS
        # Later values: a regular one and a later set-once one replace no set-once value.
        later = message("r", "identify", userId="U", timestamp="2026-11-25T14:00:00.000Z",
                        traits={"early": "r", "only": "r"}, traitsOnce={"late": "r", "new": "r"})  # fmt: skip
        await storage.add([later])
        live = await lookup(storage, user_id="U")
        assert live["traits"] == {**MERGED_TRAITS, "only": "r", "new": "r"}
        await storage.rebuild_profiles()
        rebuilt = await lookup(storage, user_id="U")
        assert {**rebuilt, "profileId": None} == {**live, "profileId": None}
        assert orphans(storage) == (0, 0, 0, 0, 0, 0)

    run(db_url, scenario)


def test_set_once_values_arriving_in_any_order_keep_the_earliest(db_url: str) -> None:
    times = [f"2026-11-2{d}T12:00:00.000Z" for d in (4, 1, 3, 2)]  # sent in this order, made in another

    async def scenario(storage: Storage) -> None:
        for n, at in enumerate(times):
            await storage.add([message(f"m{n}", "identify", userId="U", timestamp=at, traitsOnce={"first": at})])
            assert (await lookup(storage, user_id="U"))["traits"] == {"first": min(times[: n + 1])}

    run(db_url, scenario)


def test_duplicates_leave_profiles_alone(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        batch = [message("m1", "identify", userId="U", traits={"n": 1}), message("m2", userId="U")]
        assert (await storage.add(batch)).inserted == 2
        assert (await storage.add(batch)).inserted == 0
        assert (await storage.add([message("m1", "identify", userId="U", traits={"n": 2})])).inserted == 0
        profile = await lookup(storage, user_id="U")
        assert profile["eventCount"] == 2 and profile["traits"] == {"n": 1}

    run(db_url, scenario)


def test_a_failing_batch_changes_no_profile(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add([message("m1", anonymousId="A1")])
        broken = dataclasses_replace(message("m3", anonymousId="A9"), body=None)
        with pytest.raises(Exception):  # noqa: B017 - each backend raises its own driver's error
            await storage.add([message("m2", userId="U1", anonymousId="A1"), broken])
        profile = await lookup(storage, anonymous_id="A1")
        assert profile["userIds"] == [] and profile["eventCount"] == 1
        assert await storage.find_profile(user_id="U1") is None
        assert await storage.find_profile(anonymous_id="A9") is None

    run(db_url, scenario)


def dataclasses_replace(event: Event, **changes: typing.Any) -> Event:
    import dataclasses

    return dataclasses.replace(event, **changes)


def test_search_by_id_and_trait_value(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(
            [
                message("m1", "identify", userId="user-Ann", timestamp="2026-11-25T10:00:00.000Z",
                        traits={"company": "ÉCOLE Acme", "age": 42}),
                message("m2", anonymousId="anon-777", timestamp="2026-11-25T11:00:00.000Z"),
                message("m3", "identify", userId="user-Bo", timestamp="2026-11-25T12:00:00.000Z",
                        traits={"note": "100%_done"}),
            ]
        )  # fmt: skip

        async def users(query: str, limit: int = 50) -> list[list[str]]:
            return [p["userIds"] or p["anonymousIds"] for p in await storage.search_profiles(query, limit)]

        assert await users("") == [["user-Bo"], ["anon-777"], ["user-Ann"]]  # last seen first
        assert await users("", limit=1) == [["user-Bo"]]
        assert await users("USER-") == [["user-Bo"], ["user-Ann"]]
        assert await users("école") == [["user-Ann"]]  # case-insensitive beyond ASCII
        assert await users("42") == [["user-Ann"]]  # non-string values are searched as JSON
        assert await users("777") == [["anon-777"]]
        assert (
            await users("%") == [["user-Bo"]] and await users("%_d") == [["user-Bo"]] and await users("0_d") == []
        )  # LIKE's wildcards are literal
        assert await users("_") == [["user-Bo"]]
        assert await users("nobody") == []
        bo = await storage.find_profile(user_id="user-Bo")
        assert bo is not None and await users(bo) == [["user-Bo"]]  # by profileId too
        [summary] = await storage.search_profiles("user-Ann")
        assert summary["traits"] == {"age": 42, "company": "ÉCOLE Acme"} and "sessions" not in summary

    run(db_url, scenario)


def test_profile_events_are_paged_newest_first(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add([message(f"m{n}", userId="U", timestamp=f"2026-11-25T12:00:0{n}.000Z") for n in range(7)])
        profile_id = await storage.find_profile(user_id="U")
        assert profile_id is not None
        pages = [await storage.profile_events(profile_id, limit=3, offset=offset) for offset in (0, 3, 6)]
        assert [[e["messageId"] for e in page] for page in pages] == [["m6", "m5", "m4"], ["m3", "m2", "m1"], ["m0"]]

    run(db_url, scenario)


def test_sessions_are_listed_newest_first(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add(
            [
                message("m1", anonymousId="A", session="s-old", timestamp="2026-11-25T09:00:00.000Z"),
                message("m2", anonymousId="A", session="s-old", timestamp="2026-11-25T09:10:00.000Z"),
                message("m3", anonymousId="A", session="s-new", timestamp="2026-11-25T10:00:00.000Z"),
                message("m4", anonymousId="A", timestamp="2026-11-25T11:00:00.000Z"),  # no session
            ]
        )
        sessions = brief((await lookup(storage, anonymous_id="A"))["sessions"])
        assert sessions == [
            {"sessionId": "s-new", "firstSeen": "2026-11-25T10:00:00.000Z", "lastSeen": "2026-11-25T10:00:00.000Z",
             "eventCount": 1},
            {"sessionId": "s-old", "firstSeen": "2026-11-25T09:00:00.000Z", "lastSeen": "2026-11-25T09:10:00.000Z",
             "eventCount": 2},
        ]  # fmt: skip

    run(db_url, scenario)


# Batching, one by one, rebuilt: the same profiles


def to_event(prefix: str, number: int, sent: dict[str, typing.Any]) -> Event:
    """A generated message, its IDs prefixed so that histories sharing a database never meet."""
    ids = {key: f"{prefix}{sent[key]}" for key in ("userId", "anonymousId", "previousId") if sent.get(key)}
    fields = {key: value for key, value in sent.items() if key not in ("userId", "anonymousId", "previousId", "type")}
    return message(f"{prefix}m{number}", sent["type"], **ids, **fields)


def canonical(profiles: typing.Iterable[dict[str, typing.Any]], events: dict[str, list[str]], prefix: str) -> set:
    """Profiles without their profileIds (which differ run to run), IDs without the prefix."""

    def bare(values: typing.Iterable[str]) -> frozenset[str]:
        return frozenset(v.removeprefix(prefix) for v in values)

    return {
        (
            bare(p["userIds"]),
            bare(p["anonymousIds"]),
            json.dumps(p["traits"], sort_keys=True),
            p["eventCount"],
            p["firstSeen"],
            p["lastSeen"],
            bare(events[p["profileId"]]),
        )
        for p in profiles
    }


async def snapshot(storage: Storage, prefix: str) -> set:
    profiles = await storage.search_profiles(prefix, 1000)
    events = {
        p["profileId"]: [e["messageId"] for e in await storage.profile_events(p["profileId"], limit=1000)]
        for p in profiles
    }
    return canonical(profiles, events, prefix)


def expected_snapshot(sent: list[dict[str, typing.Any]]) -> set:
    replay = Replay()
    for m in sent:
        replay.send(**m)
    events: dict[str, list[str]] = {}
    for number, profile_id in replay.graph.final_event_profiles().items():
        events.setdefault(profile_id, []).append(f"m{number}")
    profiles = [
        {
            "profileId": p.id,
            "userIds": p.user_ids,
            "anonymousIds": p.anonymous_ids,
            "traits": {k: t.value for k, t in p.traits.items()},
            "eventCount": p.event_count,
            "firstSeen": p.first_seen,
            "lastSeen": p.last_seen,
        }
        for p in replay.graph.profiles.values()
    ]
    return canonical(profiles, events, "")


HISTORIES = st.lists(messages(), min_size=1, max_size=20)


@pytest.fixture
def shared_storage(db_url: str) -> typing.Iterator[tuple[Storage, asyncio.AbstractEventLoop]]:
    """One storage for every example of a hypothesis test (a database per example would be slow)."""
    loop = asyncio.new_event_loop()
    storage = loop.run_until_complete(opened(db_url))
    try:
        yield storage, loop
    finally:
        loop.run_until_complete(storage.disconnect())
        loop.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=HISTORIES, cuts=st.sets(st.integers(1, 19)))
def test_batches_one_by_one_and_rebuilt_give_the_same_profiles(
    shared_storage: tuple[Storage, asyncio.AbstractEventLoop], sent: list[dict[str, typing.Any]], cuts: set[int]
) -> None:
    storage, loop = shared_storage
    run_id = uuid.uuid4().hex[:8]
    prefixes = [f"{run_id}{way}-" for way in ("all", "one", "cut")]
    expected = expected_snapshot(sent)

    async def scenario() -> None:
        whole, single, cut = ([to_event(p, n, m) for n, m in enumerate(sent, 1)] for p in prefixes)
        await storage.add(whole)  # one batch
        for event in single:  # one event per batch
            await storage.add([event])
        bounds = [0, *sorted(c for c in cuts if c < len(cut)), len(cut)]
        for start, end in itertools.pairwise(bounds):  # random batches
            await storage.add(cut[start:end])
        for prefix in prefixes:
            assert await snapshot(storage, prefix) == expected, prefix
        assert orphans(storage) == (0, 0, 0, 0, 0, 0)
        await storage.rebuild_profiles()
        for prefix in prefixes:
            assert await snapshot(storage, prefix) == expected, f"{prefix} rebuilt"
        assert orphans(storage) == (0, 0, 0, 0, 0, 0)

    loop.run_until_complete(scenario())


# Concurrency: two storages (two connection pools, as two collector processes have) on one database


def test_concurrent_writers_make_one_profile(shared_db_url: str) -> None:
    batches = [
        [
            message(f"b{b}-m{n}", "identify", userId="U", anonymousId=f"A{(b + n) % 7}", traits={"b": b})
            for n in range(5)
        ]
        + [message(f"b{b}-x", anonymousId=f"A{b % 7}")]
        for b in range(24)
    ]
    errors: list[BaseException] = []

    def writer(batch_slice: list[list[Event]]) -> None:
        async def main() -> None:
            storage = await opened(shared_db_url)
            try:
                await asyncio.gather(*(storage.add(batch) for batch in batch_slice + batch_slice))  # each twice
            finally:
                await storage.disconnect()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(batches[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    async def check(storage: Storage) -> None:
        [profile] = await storage.search_profiles("", 10)
        assert profile["userIds"] == ["U"] and profile["anonymousIds"] == [f"A{n}" for n in range(7)]
        assert profile["eventCount"] == 24 * 6 == len(await storage.find(limit=1000))

    run(shared_db_url, check)


# Schema versions


def test_a_sqlite_database_from_before_profiles_is_migrated(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:  # the schema the collector wrote before schema_version existed
        connection.executescript(V1_SCHEMA)
        for e in [
            message("m1", anonymousId="A1", session="s1"),
            message("m2", "identify", userId="U1", anonymousId="A1", traits={"plan": "pro"}),
        ]:
            connection.execute(
                "INSERT INTO events (write_key, message_id, type, anonymous_id, user_id, event, timestamp, "
                "original_timestamp, sent_at, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (e.write_key, e.message_id, e.type, e.anonymous_id, e.user_id, e.event, e.timestamp,
                 e.original_timestamp, e.sent_at, e.received_at, e.body),
            )  # fmt: skip
    connection.close()

    async def scenario(storage: Storage) -> None:
        profile = await lookup(storage, anonymous_id="A1")
        assert profile["userIds"] == ["U1"] and profile["traits"] == {"plan": "pro"} and profile["eventCount"] == 2
        assert brief(profile["sessions"]) == [{"sessionId": "s1", "firstSeen": T0, "lastSeen": T0, "eventCount": 1}]

    run(f"sqlite:///{path}", scenario)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(NEWEST,)]
    connection.close()


def test_a_database_from_before_set_once_keeps_its_traits_as_regular_ones(shared_db_url: str) -> None:
    async def older() -> None:
        storage = open_storage(shared_db_url)
        assert isinstance(storage, SQLStorage)
        storage.migrations = tuple(m for m in storage.migrations if m.version <= 6)  # before traits.once
        await storage.connect()
        try:
            with storage.transaction(write=True) as db:  # a profile as a collector of schema 6 wrote it
                db.run(
                    "INSERT INTO profiles (id, event_count, first_seen, last_seen, verified, user_count, "
                    "anonymous_count, trait_count) VALUES ('p', 1, ?, ?, ?, 1, 0, 2)",
                    (AT12, AT12, False),
                )
                db.run("INSERT INTO identities (kind, value, profile_id, folded) VALUES ('user', 'U', 'p', 'u')")
                db.run_many(
                    "INSERT INTO traits (profile_id, key, value, timestamp, event_id, folded) "
                    "VALUES ('p', ?, ?, ?, 1, ?)",
                    [("plan", '"free"', AT12, "free"), ("a", "1", AT12, "1")],
                )
        finally:
            await storage.disconnect()

    asyncio.run(older())

    async def scenario(storage: Storage) -> None:
        assert isinstance(storage, SQLStorage)
        with storage.transaction(write=False) as db:
            assert db.all("SELECT version FROM schema_version") == [(NEWEST,)]
        assert (await lookup(storage, user_id="U"))["traits"] == {"plan": "free", "a": 1}
        # A regular value as before; a set-once one outranks it, later or not.
        await storage.add([message("m2", "identify", userId="U", timestamp=AT13, traits={"a": 2},
                                   traitsOnce={"plan": "trial"})])  # fmt: skip
        await storage.add([message("m3", "identify", userId="U", timestamp=AT13, traits={"plan": "pro"})])
        assert (await lookup(storage, user_id="U"))["traits"] == {"plan": "trial", "a": 2}

    run(shared_db_url, scenario)


def test_reopening_keeps_data_and_version(shared_db_url: str) -> None:
    run(shared_db_url, lambda storage: storage.add([message("m1", userId="U")]))

    async def scenario(storage: Storage) -> None:
        assert (await lookup(storage, user_id="U"))["eventCount"] == 1

    run(shared_db_url, scenario)


def test_a_newer_schema_is_refused(shared_db_url: str) -> None:
    run(shared_db_url, lambda storage: storage.find())
    if shared_db_url.startswith("sqlite"):
        with sqlite3.connect(shared_db_url.removeprefix("sqlite:///")) as connection:
            connection.execute("UPDATE schema_version SET version = 99")
        connection.close()
    else:
        import psycopg

        with psycopg.connect(shared_db_url, autocommit=True) as pg:
            pg.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(ValueError, match="version 99, newer than this collector"):
        run(shared_db_url, lambda storage: storage.find())
