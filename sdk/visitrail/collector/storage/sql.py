"""`Storage` over a blocking DB-API driver, the SQL written once for both backends, each call in
a worker thread. A backend (sqlite.py, postgres.py) supplies connections, transactions and its
first migration; the SQL lives by job beside this module:

    db.py           Transaction: the DB-API wrapper (`?` placeholders), commit or roll back
    migrations.py   the schema's versions and `migrate`
    resolution.py   identity resolution, persisted: load the graph a batch touches, apply, save; rebuild
    reads.py        profiles, sessions and search in the read API's shape
    erasure.py      the right to erasure

Tables: events(id, write_key, message_id, ..., body, session_id, profile_id, verified, ip), and the
profile tables of resolution.py. Timestamps stay ISO-8601 text in both databases: they sort as
text, and one code path reads them.
"""

from __future__ import annotations

import datetime
import json
import typing

from starlette.concurrency import run_in_threadpool

from ..profiles import ANONYMOUS, USER, Link
from . import logins
from .base import Added, Event, Storage
from .db import Transaction
from .erasure import ERASED, erase, erased_positions
from .migrations import Migration, migrate
from .reads import search, sessions_of, summaries
from .resolution import identity_of, owner, rebuild, resolve

__all__ = ["SQLStorage", "INSERT_EVENT", "event_row"]

EVENT_COLUMNS = (
    "write_key, message_id, type, anonymous_id, user_id, event, "
    "timestamp, original_timestamp, sent_at, received_at, body, session_id, verified, previous_verified, ip"
)
INSERT_EVENT = f"""
INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (write_key, message_id) DO NOTHING
RETURNING id
"""


def previous_id_of(e: Event) -> str | None:
    if e.type != "alias":
        return None
    previous = json.loads(e.body).get("previousId")
    return None if previous in (None, "") else str(previous)


def event_row(e: Event) -> tuple[typing.Any, ...]:
    return (
        e.write_key, e.message_id, e.type, e.anonymous_id, e.user_id, e.event,
        e.timestamp, e.original_timestamp, e.sent_at, e.received_at, e.body, e.session_id, e.verified,
        e.previous_verified, e.ip,
    )  # fmt: skip


class SQLStorage(Storage):
    """A backend sets `migrations` and implements connect/disconnect, `transaction` and `has_table`."""

    placeholder = "?"
    migrations: typing.Sequence[Migration] = ()

    def transaction(self, write: bool) -> typing.ContextManager[Transaction]:
        """One transaction, committed when the block ends without an exception. `write=True`
        transactions are serialised with every other writer, in and across processes."""
        raise NotImplementedError()  # pragma: no cover

    def has_table(self, db: Transaction, name: str) -> bool:
        raise NotImplementedError()  # pragma: no cover

    def migrate(self, db: Transaction) -> None:
        """Bring the schema to the newest version; call inside a write transaction."""
        migrate(db, self.migrations, self.has_table(db, "events"))

    def insert_events(self, db: Transaction, events: typing.Sequence[Event]) -> list[int | None]:
        """Each event's new row id, or None where (write_key, message_id) was already stored."""
        ids = []
        for e in events:
            row = db.connection.execute(db.sql(INSERT_EVENT), event_row(e)).fetchone()
            ids.append(None if row is None else row[0])
        return ids

    async def add(self, events: typing.Sequence[Event]) -> Added:
        return await run_in_threadpool(self._add, events)

    def _add(self, events: typing.Sequence[Event]) -> Added:
        with self.transaction(write=True) as db:
            previous_ids = [previous_id_of(e) for e in events]
            refused = dict.fromkeys(sorted(erased_positions(db, events, previous_ids)), ERASED)
            kept = [position for position in range(len(events)) if position not in refused]
            ids = self.insert_events(db, [events[position] for position in kept])
            links, positions = [], {}
            for position, event_id in zip(kept, ids, strict=True):
                if event_id is not None:
                    e = events[position]
                    links.append(
                        Link.from_row(
                            event_id, e.type, e.timestamp, e.user_id, e.anonymous_id, e.body, e.verified,
                            e.previous_verified,
                        )
                    )  # fmt: skip
                    positions[event_id] = position
            graph = resolve(db, links, refuse=True)
            # Inserted before they could be judged (rule 7 needs the graph the batch's earlier events
            # made); taken out again in the same transaction, so they were never stored.
            db.run_many("DELETE FROM events WHERE id = ?", [(event_id,) for event_id in sorted(graph.refused)])
            refused.update({positions[event_id]: reason for event_id, reason in graph.refused.items()})
        return Added(len(links) - len(graph.refused), dict(sorted(refused.items())))

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
        self, profile_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[dict[str, typing.Any]]:
        sql = "SELECT body FROM events WHERE profile_id = ? ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?"
        return await run_in_threadpool(self._bodies, sql, [profile_id, limit, offset])

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
            return {**found[0], "sessions": sessions_of(db, profile_id)}

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
            erased = None if profile_id is None else erase(db, profile_id, now)
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

    async def rebuild_profiles(self) -> int:
        return await run_in_threadpool(self._rebuild_profiles)

    def _rebuild_profiles(self) -> int:
        with self.transaction(write=True) as db:
            return rebuild(db)
