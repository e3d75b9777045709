"""`Storage` over a blocking DB-API driver, the SQL written once for both backends, each call in
a worker thread. A backend (sqlite.py, postgres.py) supplies connections, transactions and its
first migration; the SQL lives by job beside this module:

    db.py           Transaction: the DB-API wrapper (`?` placeholders), commit or roll back
    migrations.py   the schema's versions and `migrate`
    resolution.py   identity resolution, persisted: load the graph a batch touches, apply, save; rebuild
    reads.py        profiles, sessions and search in the read API's shape
    sessions.py     the sessions table, kept with the events
    stats.py        the overview's figures, from the sessions table
    erasure.py      the right to erasure

Tables: events(id, write_key, message_id, ..., body, session_id, profile_id, verified, ip, bot), the
profile tables of resolution.py and the sessions of sessions.py. An event is written once, with the
profile it was resolved into (a merge later forwards it: resolution.py's `merged`); no lock is
shared by every writer (postgres.py). Timestamps stay ISO-8601 text in both databases: they sort
as text, and one code path reads them.
"""

from __future__ import annotations

import datetime
import json
import typing

from starlette.concurrency import run_in_threadpool

from visitrail.core.options import DEFAULT_TIMEOUT_MIN

from ..profiles import ANONYMOUS, USER, Identity, Link
from ..timestamps import format_timestamp
from . import logins
from .base import Added, Event, Storage
from .db import Transaction
from .erasure import ERASED, erase, erased_positions
from .migrations import Migration, migrate
from .reads import first_touch, list_sessions, profile_log, search, sessions_of, summaries, timeline
from .resolution import INSERT_LOG, identity_of, log_rows, owner, rebuild, resolve, select_claim
from .sessions import record_sessions
from .stats import Dialect, stats, window

__all__ = ["SQLStorage", "INSERT_EVENT", "event_row", "Retry"]

EVENT_COLUMNS = (
    "id, profile_id, write_key, message_id, type, anonymous_id, user_id, event, "
    "timestamp, original_timestamp, sent_at, received_at, body, session_id, verified, previous_verified, ip, bot"
)
# Each event is written once, with its profile: resolved before the insert. ON CONFLICT: another
# transaction stored the same message after this one looked (see `_add_once`).
INSERT_EVENT = f"""
INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
MAX_ATTEMPTS = 20  # of a batch's transaction, when it meets a concurrent one (a race, a deadlock)


class Retry(Exception):
    """This transaction lost a race with a concurrent one; roll it back and run it again."""


def previous_id_of(e: Event) -> str | None:
    if e.type != "alias":
        return None
    previous = json.loads(e.body).get("previousId")
    return None if previous in (None, "") else str(previous)


def event_row(e: Event, event_id: int, profile_id: str | None) -> tuple[typing.Any, ...]:
    return (
        event_id, profile_id, e.write_key, e.message_id, e.type, e.anonymous_id, e.user_id, e.event,
        e.timestamp, e.original_timestamp, e.sent_at, e.received_at, e.body, e.session_id, e.verified,
        e.previous_verified, e.ip, e.bot,
    )  # fmt: skip


class SQLStorage(Storage):
    """A backend sets `migrations` and implements connect/disconnect, `transaction` and `has_table`."""

    placeholder = "?"
    migrations: typing.Sequence[Migration] = ()
    dialect: Dialect  # what its SQL spells its own way (stats.py)

    def transaction(self, write: bool, exclusive: bool = False) -> typing.ContextManager[Transaction]:
        """One transaction, committed when the block ends without an exception. `exclusive=True`
        (a rebuild) runs alone among the writers, in and across processes; other writers run side
        by side where the backend allows, and lock the rows they change."""
        raise NotImplementedError()  # pragma: no cover

    def has_table(self, db: Transaction, name: str) -> bool:
        raise NotImplementedError()  # pragma: no cover

    def migrate(self, db: Transaction) -> None:
        """Bring the schema to the newest version; call inside a write transaction."""
        migrate(db, self.migrations, self.has_table(db, "events"))

    lock_rows = ""  # the suffix that locks the profile rows a batch reads (postgres.py: FOR UPDATE)
    retryable: tuple[type[BaseException], ...] = (Retry,)

    def claim(self, db: Transaction, identities: set[Identity]) -> dict[Identity, str | None]:
        """The owners of `identities`; a backend with concurrent writers also locks them (resolution.py)."""
        return select_claim(db, identities)

    def allocate_ids(self, db: Transaction, count: int) -> list[int]:
        """`count` new event ids, in ascending order, before the events are inserted."""
        raise NotImplementedError()  # pragma: no cover

    def insert_events(self, db: Transaction, rows: typing.Sequence[tuple[typing.Any, ...]]) -> int:
        """Insert event rows (event_row's); returns how many were inserted."""
        inserted = 0
        for row in rows:
            inserted += db.connection.execute(db.sql(INSERT_EVENT), row).rowcount
        return inserted

    def prepare(self, events: typing.Sequence[Event]) -> None:
        """Anything the backend needs before a batch's transaction (postgres.py: the days' partitions)."""

    async def add(self, events: typing.Sequence[Event]) -> Added:
        return (await self.add_groups([events]))[0]

    async def add_groups(self, groups: typing.Sequence[typing.Sequence[Event]]) -> list[Added]:
        return await run_in_threadpool(self._add, groups)

    def _add(self, groups: typing.Sequence[typing.Sequence[Event]]) -> list[Added]:
        events = [e for group in groups for e in group]
        self.prepare(events)
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.transaction(write=True) as db:
                    inserted, refused = self._add_once(db, events)
                break
            except self.retryable:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        results, start = [], 0
        for group in groups:
            end = start + len(group)
            mine = {position - start: reason for position, reason in refused.items() if start <= position < end}
            results.append(Added(sum(1 for position in inserted if start <= position < end), mine))
            start = end
        return results

    def _add_once(self, db: Transaction, events: typing.Sequence[Event]) -> tuple[set[int], dict[int, str]]:
        """Store and resolve `events` in `db`: (positions inserted, positions refused with why)."""
        previous_ids = [previous_id_of(e) for e in events]
        refused = dict.fromkeys(sorted(erased_positions(db, events, previous_ids)), ERASED)
        stored = self.stored_message_ids(db, [e for position, e in enumerate(events) if position not in refused])
        kept, seen = [], set()
        for position, e in enumerate(events):
            key = (e.write_key, e.message_id)
            if position not in refused and key not in stored and key not in seen:
                seen.add(key)
                kept.append(position)
        ids = self.allocate_ids(db, len(kept)) if kept else []
        links, positions = [], {}
        for position, event_id in zip(kept, ids, strict=True):
            e = events[position]
            links.append(
                Link.from_row(
                    event_id, e.type, e.timestamp, e.user_id, e.anonymous_id, e.body, e.verified, e.previous_verified
                )
            )
            positions[event_id] = position
        graph = resolve(db, links, refuse=True, claim=self.claim, lock=self.lock_rows, limits=self.limits)
        final = graph.final_event_profiles()
        rows = [
            event_row(events[positions[event_id]], event_id, final.get(event_id))
            for event_id in ids
            if event_id not in graph.refused
        ]
        if self.insert_events(db, rows) != len(rows):
            raise Retry()  # a concurrent transaction stored one of these messages since we looked
        record_sessions(db, [(events[positions[row[0]]], row[1]) for row in rows])
        about = {event_id: events[position] for event_id, position in positions.items()}
        db.run_many(
            INSERT_LOG,
            log_rows(graph, lambda event_id: (about[event_id].message_id, about[event_id].write_key,
                                              about[event_id].received_at)),
        )  # fmt: skip
        refused.update({positions[event_id]: reason for event_id, reason in graph.refused.items()})
        inserted = {positions[event_id] for event_id in ids if event_id not in graph.refused}
        return inserted, dict(sorted(refused.items()))

    def stored_message_ids(self, db: Transaction, events: typing.Sequence[Event]) -> set[tuple[str, str]]:
        """The (write_key, message_id) of `events` already stored."""
        by_key: dict[str, set[str]] = {}
        for e in events:
            by_key.setdefault(e.write_key, set()).add(e.message_id)
        found = set()
        for write_key, message_ids in by_key.items():
            rows = db.all_in(
                "SELECT message_id FROM events WHERE message_id IN ({}) AND write_key = ?", message_ids, (write_key,)
            )
            found |= {(write_key, message_id) for (message_id,) in rows}
        return found

    async def find(
        self,
        *,
        write_key: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        message_id: str | None = None,
        descending: bool = False,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[dict[str, typing.Any]]:
        filters = {"write_key": write_key, "anonymous_id": anonymous_id, "user_id": user_id, "message_id": message_id}
        # Column names come from the fixed keys above, never from the request.
        clauses = [f"{name} = ?" for name, value in filters.items() if value is not None]
        params: list[typing.Any] = [value for value in filters.values() if value is not None]
        sql = "SELECT body FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY id {'DESC' if descending else 'ASC'} LIMIT ? OFFSET ?"
        return await run_in_threadpool(self._bodies, sql, [*params, limit, offset])

    async def profile_events(
        self, profile_id: str, *, limit: int = 100, offset: int = 0, now: datetime.datetime | None = None
    ) -> list[dict[str, typing.Any]]:
        at = now if now is not None else datetime.datetime.now(datetime.UTC)
        ended_before = format_timestamp(at - datetime.timedelta(minutes=DEFAULT_TIMEOUT_MIN))
        return await run_in_threadpool(self._profile_events, profile_id, limit, offset, ended_before)

    def _profile_events(
        self, profile_id: str, limit: int, offset: int, ended_before: str
    ) -> list[dict[str, typing.Any]]:
        with self.transaction(write=False) as db:
            return timeline(db, profile_id, limit, offset, ended_before)

    async def sessions(
        self,
        *,
        profile_id: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 100,
        offset: int = 0,
        bots: bool = False,
    ) -> list[dict[str, typing.Any]]:
        return await run_in_threadpool(self._sessions, profile_id, start, end, limit, offset, bots)

    def _sessions(
        self, profile_id: str | None, start: str | None, end: str | None, limit: int, offset: int, bots: bool
    ) -> list[dict[str, typing.Any]]:
        with self.transaction(write=False) as db:
            if profile_id is not None:
                return sessions_of(db, profile_id, limit, offset)
            return list_sessions(db, start, end, limit, bots, offset)

    async def stats(self, range: str, now: datetime.datetime, bots: bool = False) -> dict[str, typing.Any]:
        window(range, now)  # a bad range fails here, before a thread is taken
        return await run_in_threadpool(self._stats, range, now, bots)

    def _stats(self, range: str, now: datetime.datetime, bots: bool) -> dict[str, typing.Any]:
        # One snapshot: the range's figures, its previous range's and its top lists agree.
        with self.transaction(write=False) as db:
            return stats(db, self.dialect, range, now, bots)

    def _bodies(self, sql: str, params: list[typing.Any]) -> list[dict[str, typing.Any]]:
        with self.transaction(write=False) as db:
            return [json.loads(body) for (body,) in db.all(sql, params)]

    async def find_profile(self, *, user_id: str | None = None, anonymous_id: str | None = None) -> str | None:
        return await run_in_threadpool(self._find_profile, identity_of(user_id, anonymous_id))

    def _find_profile(self, identity: tuple[str, str | None]) -> str | None:
        with self.transaction(write=False) as db:
            return owner(db, identity)

    async def profile(self, profile_id: str) -> dict[str, typing.Any] | None:
        return await run_in_threadpool(self._profile, None, profile_id)

    async def profile_of(
        self, *, user_id: str | None = None, anonymous_id: str | None = None
    ) -> dict[str, typing.Any] | None:
        return await run_in_threadpool(self._profile, identity_of(user_id, anonymous_id), None)

    def _profile(self, identity: tuple[str, str | None] | None, profile_id: str | None) -> dict[str, typing.Any] | None:
        # One snapshot: a merge can't land halfway through, nor between finding the ID and reading.
        with self.transaction(write=False) as db:
            if identity is not None:
                profile_id = owner(db, identity)
            found = summaries(db, [profile_id]) if profile_id is not None else []
            if not found or profile_id is None:
                return None
            profile = found[0]
            # The first visit's traits are derived, and no trait sent later replaces them.
            profile["traits"] = {**profile["traits"], **first_touch(db, profile_id)}
            return {**profile, "sessions": sessions_of(db, profile_id)}

    async def search_profiles(self, query: str = "", limit: int = 50) -> list[dict[str, typing.Any]]:
        return await run_in_threadpool(self._search_profiles, query, limit)

    def _search_profiles(self, query: str, limit: int) -> list[dict[str, typing.Any]]:
        with self.transaction(write=False) as db:
            return search(db, query, limit)

    async def erase_profile(
        self,
        *,
        profile_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        now: datetime.datetime | None = None,
    ) -> dict[str, typing.Any] | None:
        given = [(kind, value) for kind, value in (("profile", profile_id), (USER, user_id), (ANONYMOUS, anonymous_id))]
        named = [(kind, value) for kind, value in given if value is not None]
        if len(named) != 1:
            raise ValueError("name the profile by exactly one of profile_id, user_id or anonymous_id")
        at = now if now is not None else datetime.datetime.now(datetime.UTC)
        return await run_in_threadpool(self._erase_profile, *named[0], at)

    def _erase_profile(self, kind: str, value: str, now: datetime.datetime) -> dict[str, typing.Any] | None:
        # The ID is resolved inside the write transaction: a batch can't merge the profile away between.
        with self.transaction(write=True) as db:
            profile_id = value if kind == "profile" else owner(db, (kind, value))
            erased = None if profile_id is None else erase(db, profile_id, now, self.lock_rows)
        if erased is not None:
            self.after_erase()
        return erased

    def after_erase(self) -> None:
        """Make a committed erasure physical, as far as the database allows (erasure.py)."""

    async def add_login(self, digest: str, token_mac: str, expires: str, now: str) -> None:
        await run_in_threadpool(self._in_write, logins.add, digest, token_mac, expires, now)

    async def find_login(self, digest: str) -> tuple[str, str] | None:
        return await run_in_threadpool(self._find_login, digest)

    def _find_login(self, digest: str) -> tuple[str, str] | None:
        with self.transaction(write=False) as db:
            return logins.find(db, digest)

    async def remove_login(self, digest: str) -> None:
        await run_in_threadpool(self._in_write, logins.remove, digest)

    def _in_write(self, work: typing.Callable[..., None], *args: str) -> None:
        with self.transaction(write=True) as db:
            work(db, *args)

    async def expire(self, before: str) -> int:
        return await run_in_threadpool(self._expire, before)

    def _expire(self, before: str) -> int:
        raise NotImplementedError()  # pragma: no cover

    async def rebuild_profiles(self) -> int:
        return await run_in_threadpool(self._rebuild_profiles)

    def _rebuild_profiles(self) -> int:
        with self.transaction(write=True, exclusive=True) as db:
            return rebuild(db, self.limits)

    async def profile_log(self, profile_id: str, *, limit: int = 100) -> list[dict[str, typing.Any]]:
        return await run_in_threadpool(self._profile_log, profile_id, limit)

    def _profile_log(self, profile_id: str, limit: int) -> list[dict[str, typing.Any]]:
        with self.transaction(write=False) as db:
            return profile_log(db, profile_id, limit)
