"""What lets the collector scale, one suite for every backend: group commits, work bounded by what
an event touches (not by its profile's size), retention, partitions, and reads served by indexes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import typing

import pytest

from visitrail.collector.group import GroupCommit
from visitrail.collector.profiles import NO_LIMITS
from visitrail.collector.storage import Event, Storage
from visitrail.collector.storage.db import Transaction
from visitrail.collector.storage.sql import SQLStorage

from .helpers import message, orphans, run, statements


@contextlib.contextmanager
def held(storage: Storage, db_url: str, anonymous_id: str) -> typing.Iterator[None]:
    """A write transaction of our own that a batch naming `anonymous_id` must wait for: SQLite's
    write lock (every writer waits), PostgreSQL's row lock on that identity."""
    if db_url.startswith("sqlite"):
        connection = sqlite3.connect(db_url.split(":///", 1)[1], isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    import psycopg

    with psycopg.connect(db_url) as connection:
        connection.execute("SELECT 1 FROM identities WHERE value = %s FOR UPDATE", (anonymous_id,))
        yield
        connection.rollback()


async def until(condition: typing.Callable[[], bool]) -> None:
    """Yield to the event loop until `condition` holds (bounded: a stuck test fails, never hangs).
    Each condition here is the event loop's own state (a task reached add_groups, requests joined
    the queue), so a turn of the loop, not time, is what it waits for."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def counted(storage: Storage) -> list[int]:
    """Record the number of groups of each add_groups call (one call is one transaction)."""
    calls: list[int] = []
    original = storage.add_groups

    async def add_groups(groups: typing.Sequence[typing.Sequence[Event]]) -> typing.Any:
        calls.append(len(groups))
        return await original(groups)

    storage.add_groups = add_groups  # type: ignore[method-assign]
    return calls


def test_requests_that_arrive_during_a_transaction_share_the_next_one(shared_db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add([message("seed", anonymousId="H")])
        commits = GroupCommit(storage, slots=1)
        calls = counted(storage)
        with held(storage, shared_db_url, "H"):
            first = asyncio.create_task(commits.add([message("h1", anonymousId="H")]))
            await until(lambda: calls == [1])  # its transaction is under way, waiting for ours
            others = [asyncio.create_task(commits.add([message(f"v{n}", anonymousId=f"V{n}")])) for n in range(5)]
            await until(lambda: len(commits.queue) == 5)
            assert not first.done() and not any(task.done() for task in others)  # nobody answered before commit
        assert (await first).inserted == 1
        assert [(await task).inserted for task in others] == [1] * 5
        assert calls == [1, 5]  # five requests, one transaction
        assert len(await storage.find(limit=100)) == 7

    run(shared_db_url, scenario)


def test_a_failing_request_in_a_group_fails_alone(shared_db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add([message("seed", anonymousId="H")])
        commits = GroupCommit(storage, slots=1)
        calls = counted(storage)
        broken = dataclasses.replace(message("bad", anonymousId="B"), body=None)  # type: ignore[arg-type]
        with held(storage, shared_db_url, "H"):
            first = asyncio.create_task(commits.add([message("h1", anonymousId="H")]))
            await until(lambda: calls == [1])
            group = [commits.add([message("g1", anonymousId="G1")]), commits.add([broken])]
            tasks = [asyncio.create_task(c) for c in [*group, commits.add([message("g2", anonymousId="G2")])]]
            await until(lambda: len(commits.queue) == 3)
        await first
        good1, bad, good2 = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(bad, Exception)
        assert not isinstance(good1, BaseException) and good1.inserted == 1
        assert not isinstance(good2, BaseException) and good2.inserted == 1
        assert sorted(e["messageId"] for e in await storage.find(limit=100)) == ["g1", "g2", "h1", "seed"]
        assert orphans(storage) == (0, 0, 0, 0, 0, 0)

    run(shared_db_url, scenario)


class Counting(Transaction):
    """A transaction that counts the rows its reads return."""

    def __init__(self, inner: Transaction, tally: list[int]) -> None:
        super().__init__(inner.connection, inner.placeholder)
        self.tally = tally

    def all(self, sql: str, params: typing.Sequence[typing.Any] = ()) -> list[tuple[typing.Any, ...]]:
        rows = super().all(sql, params)
        self.tally.append(len(rows))
        return rows


def rows_read(storage: SQLStorage) -> list[int]:
    """Count the rows every transaction of `storage` reads from now on."""
    tally: list[int] = []
    original = storage.transaction

    @contextlib.contextmanager
    def transaction(write: bool, exclusive: bool = False) -> typing.Iterator[Transaction]:
        with original(write, exclusive) as db:
            yield Counting(db, tally)

    storage.transaction = transaction  # type: ignore[method-assign]
    return tally


def test_an_event_costs_the_same_for_a_huge_profile_as_for_a_small_one(db_url: str) -> None:
    """The hub of issue 17: a profile with thousands of anonymous IDs and trait keys. Resolving one
    more of its events reads what that event names, not the profile: as many rows as for a visitor
    with two IDs."""

    async def scenario(storage: Storage) -> None:
        assert isinstance(storage, SQLStorage)
        storage.limits = NO_LIMITS
        traits = {f"t{n}": n for n in range(2000)}
        hub = [message(f"h{n}", "identify", userId="hub", anonymousId=f"A{n}") for n in range(5000)]
        hub[0] = message("h0", "identify", userId="hub", anonymousId="A0", traits=traits)
        for start in range(0, len(hub), 2500):
            await storage.add(hub[start : start + 2500])
        await storage.add([message("s0", "identify", userId="small", anonymousId="S0", traits={"t1": 0})])
        costs = {}
        for name, user, anonymous in (("hub", "hub", "A17"), ("small", "small", "S0")):
            tally = rows_read(storage)
            n = len(costs)
            await storage.add([message(f"x{n}", userId=user, anonymousId=anonymous)])
            await storage.add([message(f"y{n}", "identify", userId=user, anonymousId=anonymous, traits={"t1": 9})])
            costs[name] = sum(tally)
            del storage.transaction  # back to the class's
        assert costs["hub"] == costs["small"], costs
        profile = await storage.profile_of(user_id="hub")
        assert profile is not None and len(profile["anonymousIds"]) == 5000 and len(profile["traits"]) == 2000
        assert profile["traits"]["t1"] == 9 and profile["eventCount"] == 5002

    run(db_url, scenario)


def received(event: Event, day: str) -> Event:
    return dataclasses.replace(event, received_at=f"{day}T12:00:00.000Z")


def test_retention_removes_old_days_and_keeps_profiles(db_url: str) -> None:
    async def scenario(storage: Storage) -> None:
        days = ["2026-11-20", "2026-11-21", "2026-11-22"]
        for n, day in enumerate(days):
            await storage.add([received(message(f"m{n}", userId="U", anonymousId=f"A{n}"), day)])
        if "postgresql" in storage.url:
            assert partitions(storage) >= {"events_20261120", "events_20261121", "events_20261122"}
        await storage.expire("2026-11-22")
        assert [e["messageId"] for e in await storage.find(limit=10)] == ["m2"]
        profile = await storage.profile_of(user_id="U")
        assert profile is not None and profile["anonymousIds"] == ["A0", "A1", "A2"] and profile["eventCount"] == 3
        if "postgresql" in storage.url:
            assert not partitions(storage) & {"events_20261120", "events_20261121"}
            assert "events_20261122" in partitions(storage)
        # A message retried on a later day (a partition of its own) is still stored once.
        again = await storage.add([received(message("m2", userId="U", anonymousId="A2"), "2026-11-23")])
        assert again.inserted == 0 and len(await storage.find(limit=10)) == 1

    run(db_url, scenario)


def partitions(storage: Storage) -> set[str]:
    assert isinstance(storage, SQLStorage)
    with storage.transaction(write=False) as db:
        sql = "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass"
        return {name for (name,) in db.all(sql)}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_read_api_is_served_by_indexes(backend: str, tmp_path: typing.Any, request: pytest.FixtureRequest) -> None:
    """Every statement the read API runs (lookup, profile, events, sessions, the log) finds its
    rows of events through an index, so it stays fast at 1,000,000 events (the bench measures it)."""
    url = f"sqlite:///{tmp_path / 'events.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")

    async def scenario(storage: Storage) -> None:
        assert isinstance(storage, SQLStorage)
        await storage.add(
            [message(f"m{n}", userId=f"U{n % 50}", anonymousId=f"A{n}", session="s") for n in range(2000)]
        )
        seen = statements(storage)
        profile = await storage.profile_of(user_id="U7")
        assert profile is not None
        await storage.profile(profile["profileId"])
        await storage.profile_events(profile["profileId"])
        await storage.profile_log(profile["profileId"])
        await storage.find(anonymous_id="A7")
        await storage.find(user_id="U7", descending=True)
        await storage.find(message_id="m7")
        del storage.transaction
        if backend == "postgresql":
            with storage.transaction(write=True) as db:
                db.run("ANALYZE")
        with storage.transaction(write=False) as db:
            for sql, params in seen:
                if "events" not in sql:
                    continue
                plan = "\n".join(str(row[-1]) for row in db.all(("EXPLAIN " if backend == "postgresql" else
                                                                  "EXPLAIN QUERY PLAN ") + sql, params))  # fmt: skip
                # The rows are all in one day's partition (the others are empty: a scan of nothing).
                assert "Seq Scan on events_20261125" not in plan and "SCAN events\n" not in plan + "\n", (sql, plan)

    run(url, scenario)


def test_a_request_right_after_another_is_stored_too(db_url: str) -> None:
    """The waiter of one group wakes before its drain has ended: its next request must still find a
    drain to run it (it once waited forever)."""

    async def scenario(storage: Storage) -> None:
        commits = GroupCommit(storage, slots=1)
        for n in range(20):  # a hang guard, not a timing: each add takes milliseconds
            added = await asyncio.wait_for(commits.add([message(f"m{n}", anonymousId="A")]), timeout=60)
            assert added.inserted == 1
        assert commits.active == 0 and len(await storage.find(limit=100)) == 20

    run(db_url, scenario)
