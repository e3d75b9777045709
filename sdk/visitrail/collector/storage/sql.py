"""The SQL both backends share: events, profiles, migrations. A backend supplies connections,
transactions and its DDL; everything else is written once, with `?` placeholders.

Tables (the DDL is in each backend, the dialects differ only in column types):
    events(id, write_key, message_id, ..., body, session_id, profile_id, verified, ip)
    profiles(id, event_count, first_seen, last_seen, verified)  one row per profile
    identities(kind, value, profile_id, folded)                 kind: "user" | "anonymous"
    traits(profile_id, key, value, timestamp, event_id, folded) value: JSON text
    schema_version(version)
`folded` is the case-folded text searched by `search_profiles`, computed here rather than with
SQL's lower(), which SQLite applies to ASCII only. There are no foreign keys: `save` keeps every
profile_id pointing at a living profile (test_profile_storage.py checks it after every history),
and `rebuild_profiles` recomputes them all.
Timestamps stay ISO-8601 text in both databases: they sort as text, and one code path reads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import typing

from starlette.concurrency import run_in_threadpool

from ..profiles import ANONYMOUS, USER, Graph, Link, Profile, Trait, session_id_of
from .base import Event, Storage

__all__ = ["Session", "Migration", "SQLStorage", "resolve", "rebuild", "strip_identity_tokens", "erase"]

CHUNK = 500  # values per IN (...) list, well under SQLite's and PostgreSQL's parameter limits
REBUILD_CHUNK = 1000  # events replayed per step of a rebuild
MAX_SESSIONS = 1000  # sessions listed per profile, newest first

EVENT_COLUMNS = (
    "write_key, message_id, type, anonymous_id, user_id, event, "
    "timestamp, original_timestamp, sent_at, received_at, body, session_id, verified, ip"
)
INSERT_EVENT = f"""
INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (write_key, message_id) DO NOTHING
RETURNING id
"""
UPSERT_PROFILE = """
INSERT INTO profiles (id, event_count, first_seen, last_seen, verified) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    event_count = excluded.event_count, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
    verified = excluded.verified
"""
UPSERT_IDENTITY = """
INSERT INTO identities (kind, value, profile_id, folded) VALUES (?, ?, ?, ?)
ON CONFLICT (value, kind) DO UPDATE SET profile_id = excluded.profile_id
"""
UPSERT_TRAIT = """
INSERT INTO traits (profile_id, key, value, timestamp, event_id, folded) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (profile_id, key) DO UPDATE SET
    value = excluded.value, timestamp = excluded.timestamp, event_id = excluded.event_id, folded = excluded.folded
"""
SESSIONS = f"""
SELECT session_id, MIN(timestamp), MAX(timestamp), COUNT(*) FROM events
WHERE profile_id = ? AND session_id IS NOT NULL
GROUP BY session_id ORDER BY MAX(timestamp) DESC, session_id LIMIT {MAX_SESSIONS}
"""
SEARCH = r"""
SELECT id FROM profiles
WHERE id = ?
   OR id IN (SELECT profile_id FROM identities WHERE folded LIKE ? ESCAPE '\')
   OR id IN (SELECT profile_id FROM traits WHERE folded LIKE ? ESCAPE '\')
ORDER BY last_seen DESC, id LIMIT ?
"""


class Session:
    """One transaction on a DB-API connection (sqlite3's, or psycopg's sync one)."""

    def __init__(self, connection: typing.Any, placeholder: str = "?") -> None:
        self.connection = connection
        self.placeholder = placeholder

    def sql(self, sql: str) -> str:
        # Our SQL has no "?" but placeholders; psycopg wants %s.
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def all(self, sql: str, params: typing.Sequence[typing.Any] = ()) -> list[tuple[typing.Any, ...]]:
        rows: list[tuple[typing.Any, ...]] = self.connection.execute(self.sql(sql), params).fetchall()
        return rows

    def run(self, sql: str, params: typing.Sequence[typing.Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return int(self.connection.execute(self.sql(sql), params).rowcount)

    def run_many(self, sql: str, rows: typing.Sequence[typing.Sequence[typing.Any]]) -> None:
        if rows:
            self.connection.cursor().executemany(self.sql(sql), rows)

    def all_in(
        self, sql: str, values: typing.Iterable[typing.Any], params: typing.Sequence[typing.Any] = ()
    ) -> list[tuple[typing.Any, ...]]:
        """`sql` with its `IN ({})` filled with `values`, in chunks."""
        values = list(values)
        rows = []
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            rows += self.all(sql.format(", ".join("?" * len(chunk))), [*chunk, *params])
        return rows


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    statements: tuple[str, ...]
    # Python work in the same transaction, after the DDL of every pending migration (see migrate)
    then: typing.Callable[[Session], object] | None = None


def profile_migrations(integer: str, boolean: str) -> tuple[Migration, ...]:
    """Versions 2 and 3, the same on every backend but for two column types: `integer` for
    counters and event ids, `boolean` with its default for the verified flags."""
    return (
        Migration(
            2,
            (
                "ALTER TABLE events ADD COLUMN session_id TEXT",
                "ALTER TABLE events ADD COLUMN profile_id TEXT",
                "CREATE INDEX events_profile ON events (profile_id, timestamp)",
                f"""CREATE TABLE profiles (
                    id TEXT PRIMARY KEY,
                    event_count {integer} NOT NULL,
                    first_seen TEXT,
                    last_seen TEXT
                )""",
                "CREATE INDEX profiles_last_seen ON profiles (last_seen)",
                """CREATE TABLE identities (
                    value TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    profile_id TEXT NOT NULL,
                    folded TEXT NOT NULL,
                    PRIMARY KEY (value, kind)
                )""",
                "CREATE INDEX identities_profile ON identities (profile_id)",
                f"""CREATE TABLE traits (
                    profile_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    timestamp TEXT NOT NULL,
                    event_id {integer} NOT NULL,
                    folded TEXT NOT NULL,
                    PRIMARY KEY (profile_id, key)
                )""",
            ),
            then=rebuild,  # events stored before version 2 get their session ids and profiles
        ),
        Migration(
            3,
            (
                f"ALTER TABLE events ADD COLUMN verified {boolean}",
                "ALTER TABLE events ADD COLUMN ip TEXT",
                f"ALTER TABLE profiles ADD COLUMN verified {boolean}",
            ),
            then=strip_identity_tokens,  # stored by collectors before this version
        ),
    )


def json_text(value: typing.Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def folded(value: typing.Any) -> str:
    return (value if isinstance(value, str) else json_text(value)).casefold()


def like_pattern(query: str) -> str:
    escaped = query.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Identity resolution: load, apply, save


def load_profiles(db: Session, identities: set[tuple[str, str]]) -> list[Profile]:
    """The profiles owning any of `identities`, complete with all their identities and traits."""
    rows = db.all_in("SELECT kind, value, profile_id FROM identities WHERE value IN ({})", {v for _, v in identities})
    return load_profiles_by_id(db, {pid for kind, value, pid in rows if (kind, value) in identities})


def load_profiles_by_id(db: Session, profile_ids: typing.Iterable[str]) -> list[Profile]:
    ids = sorted(profile_ids)
    profiles = {
        pid: Profile(pid, event_count=count, first_seen=first, last_seen=last, verified=bool(verified))
        for pid, count, first, last, verified in db.all_in(
            "SELECT id, event_count, first_seen, last_seen, verified FROM profiles WHERE id IN ({})", ids
        )
    }
    # `if pid in profiles`: should a row ever point at a missing profile, its identity reads as
    # unseen and the next event naming it gives it a profile again, instead of failing every batch.
    for kind, value, pid in db.all_in("SELECT kind, value, profile_id FROM identities WHERE profile_id IN ({})", ids):
        if pid in profiles:
            profiles[pid].ids_of(kind).add(value)
    for pid, key, value, timestamp, event_id in db.all_in(
        "SELECT profile_id, key, value, timestamp, event_id FROM traits WHERE profile_id IN ({})", ids
    ):
        if pid in profiles:
            profiles[pid].traits[key] = Trait(json.loads(value), timestamp, event_id)
    return [profiles[pid] for pid in ids if pid in profiles]


def identity_of(user_id: str | None, anonymous_id: str | None) -> tuple[str, str | None]:
    return (USER, user_id) if user_id is not None else (ANONYMOUS, anonymous_id)


def owner(db: Session, identity: tuple[str, str | None]) -> str | None:
    """The profileId that holds this (kind, value) identity, if it has been seen."""
    rows = db.all("SELECT profile_id FROM identities WHERE kind = ? AND value = ?", identity)
    return rows[0][0] if rows else None


def resolve(db: Session, links: typing.Sequence[Link]) -> Graph:
    """Apply `links` (in arrival order) to the stored identity graph and write back what changed."""
    graph = Graph(load_profiles(db, Graph.identities_of(links)))
    for link in links:
        graph.apply(link)
    save(db, graph)
    return graph


def save(db: Session, graph: Graph) -> None:
    for loser in graph.merged:  # a profile made and merged within this batch matches no rows: harmless
        survivor = graph.final_id(loser)
        db.run("UPDATE events SET profile_id = ? WHERE profile_id = ?", (survivor, loser))
        db.run("DELETE FROM traits WHERE profile_id = ?", (loser,))
        db.run("DELETE FROM profiles WHERE id = ?", (loser,))
    db.run_many(
        UPSERT_PROFILE,
        [
            (p.id, p.event_count, p.first_seen, p.last_seen, p.verified)
            for p in (graph.profiles[pid] for pid in sorted(graph.profiles_changed))
        ],
    )
    db.run_many(
        UPSERT_IDENTITY,
        [
            (kind, value, graph.owner[(kind, value)], value.casefold())
            for kind, value in sorted(graph.identities_changed)
        ],
    )
    traits = [(pid, key, graph.profiles[pid].traits[key]) for pid, key in sorted(graph.traits_changed)]
    db.run_many(
        UPSERT_TRAIT,
        [(pid, key, json_text(t.value), t.timestamp, t.event_id, folded(t.value)) for pid, key, t in traits],
    )
    db.run_many(
        "UPDATE events SET profile_id = ? WHERE id = ?",
        [(pid, event_id) for event_id, pid in sorted(graph.final_event_profiles().items())],
    )


def rebuild(db: Session) -> int:
    """Recompute session ids and profiles from the events table, replaying it in arrival order."""
    for table in ("traits", "identities", "profiles"):
        db.run(f"DELETE FROM {table}")
    db.run("UPDATE events SET profile_id = NULL")
    last = 0
    while True:
        rows = db.all(
            "SELECT id, type, timestamp, user_id, anonymous_id, body, verified, session_id FROM events "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (last, REBUILD_CHUNK),
        )
        if not rows:
            break
        sessions = [(session_id_of(json.loads(row[5])), row[0]) for row in rows]
        db.run_many(
            "UPDATE events SET session_id = ? WHERE id = ?",
            [(new, event_id) for (new, event_id), row in zip(sessions, rows, strict=True) if new != row[7]],
        )
        resolve(db, [Link.from_row(*row[:7]) for row in rows])
        last = rows[-1][0]
    return int(db.all("SELECT COUNT(*) FROM profiles")[0][0])


def strip_identity_tokens(db: Session) -> None:
    """Take `context.identityToken` out of stored bodies: collectors before schema version 3 kept it,
    and a credential has no business in the events table (messages.py strips it on arrival now)."""
    last = 0
    while True:
        rows = db.all(
            "SELECT id, body FROM events WHERE id > ? AND body LIKE ? ORDER BY id LIMIT ?",
            (last, "%identityToken%", REBUILD_CHUNK),  # a parameter: psycopg reads % in SQL text as one
        )
        if not rows:
            break
        updates = []
        for event_id, body in rows:
            message = json.loads(body)
            context = message.get("context")
            if isinstance(context, dict) and "identityToken" in context:
                del context["identityToken"]
                updates.append((json_text(message), event_id))
        db.run_many("UPDATE events SET body = ? WHERE id = ?", updates)
        last = rows[-1][0]


def erase(db: Session, profile_id: str) -> dict[str, typing.Any] | None:
    """Delete a profile and everything that is its: see `Storage.erase_profile`."""
    if not db.all("SELECT id FROM profiles WHERE id = ?", (profile_id,)):
        return None
    events = db.run("DELETE FROM events WHERE profile_id = ?", (profile_id,))
    identities = db.run("DELETE FROM identities WHERE profile_id = ?", (profile_id,))
    db.run("DELETE FROM traits WHERE profile_id = ?", (profile_id,))
    db.run("DELETE FROM profiles WHERE id = ?", (profile_id,))
    return {"profileId": profile_id, "events": events, "identities": identities}


# Reads


def summaries(db: Session, profile_ids: typing.Sequence[str]) -> list[dict[str, typing.Any]]:
    """Profiles in the read API's shape, in the order of `profile_ids` (missing ones left out)."""
    order = {pid: n for n, pid in enumerate(profile_ids)}
    return [
        {
            "profileId": p.id,
            "userIds": sorted(p.user_ids),
            "anonymousIds": sorted(p.anonymous_ids),
            "traits": {key: p.traits[key].value for key in sorted(p.traits)},
            "eventCount": p.event_count,
            "firstSeen": p.first_seen,
            "lastSeen": p.last_seen,
            "verified": p.verified,
        }
        for p in sorted(load_profiles_by_id(db, profile_ids), key=lambda p: order[p.id])
    ]


class SQLStorage(Storage):
    """`Storage` over a blocking DB-API driver, every call in a worker thread. A backend sets
    `migrations` and implements connect/disconnect, `transaction` and `has_table`."""

    placeholder = "?"
    migrations: typing.Sequence[Migration] = ()

    def transaction(self, write: bool) -> typing.ContextManager[Session]:
        """One transaction, committed when the block ends without an exception. `write=True`
        transactions are serialised with every other writer, in and across processes."""
        raise NotImplementedError()  # pragma: no cover

    def has_table(self, db: Session, name: str) -> bool:
        raise NotImplementedError()  # pragma: no cover

    def migrate(self, db: Session) -> None:
        """Bring the schema to the newest version; call inside a write transaction."""
        db.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        rows = db.all("SELECT version FROM schema_version")
        if rows:
            version = int(rows[0][0])
        else:
            # Databases from before schema_version have version 1's events table and nothing else.
            version = 1 if self.has_table(db, "events") else 0
            db.run("INSERT INTO schema_version (version) VALUES (?)", (version,))
        newest = max(m.version for m in self.migrations)
        if version > newest:
            raise ValueError(
                f"the database's schema is version {version}, newer than this collector knows ({newest}); "
                "upgrade visitrail"
            )
        pending = [migration for migration in self.migrations if migration.version > version]
        for migration in pending:
            for statement in migration.statements:
                db.run(statement)
        # Python steps run once all the DDL has: they use today's SQL, which expects today's schema.
        for migration in pending:
            if migration.then is not None:
                migration.then(db)
        if pending:
            db.run("UPDATE schema_version SET version = ?", (newest,))

    def insert_events(self, db: Session, events: typing.Sequence[Event]) -> list[int | None]:
        """Each event's new row id, or None where (write_key, message_id) was already stored."""
        ids = []
        for e in events:
            row = db.connection.execute(db.sql(INSERT_EVENT), event_row(e)).fetchone()
            ids.append(None if row is None else row[0])
        return ids

    async def add(self, events: typing.Sequence[Event]) -> int:
        return await run_in_threadpool(self._add, events)

    def _add(self, events: typing.Sequence[Event]) -> int:
        with self.transaction(write=True) as db:
            ids = self.insert_events(db, events)
            links = [
                Link.from_row(event_id, e.type, e.timestamp, e.user_id, e.anonymous_id, e.body, e.verified)
                for event_id, e in zip(ids, events, strict=True)
                if event_id is not None
            ]
            resolve(db, links)
        return len(links)

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

    def _profile(
        self, identity: tuple[str, str | None] | None, profile_id: str | None
    ) -> dict[str, typing.Any] | None:
        # One snapshot: a merge can't land halfway through, nor between finding the ID and reading.
        with self.transaction(write=False) as db:
            if identity is not None:
                profile_id = owner(db, identity)
            found = summaries(db, [profile_id]) if profile_id is not None else []
            if not found:
                return None
            sessions = db.all(SESSIONS, (profile_id,))
        sessions_json = [
            {"sessionId": session, "firstSeen": first, "lastSeen": last, "eventCount": count}
            for session, first, last, count in sessions
        ]
        return {**found[0], "sessions": sessions_json}

    async def search_profiles(self, query: str = "", limit: int = 50) -> list[dict[str, typing.Any]]:
        return await run_in_threadpool(self._search_profiles, query, limit)

    def _search_profiles(self, query: str, limit: int) -> list[dict[str, typing.Any]]:
        with self.transaction(write=False) as db:
            if query:
                pattern = like_pattern(query)
                rows = db.all(SEARCH, (query, pattern, pattern, limit))
            else:
                rows = db.all("SELECT id FROM profiles ORDER BY last_seen DESC, id LIMIT ?", (limit,))
            return summaries(db, [pid for (pid,) in rows])

    async def erase_profile(
        self, *, profile_id: str | None = None, user_id: str | None = None, anonymous_id: str | None = None
    ) -> dict[str, typing.Any] | None:
        given = [(kind, value) for kind, value in (("profile", profile_id), (USER, user_id), (ANONYMOUS, anonymous_id))]
        named = [(kind, value) for kind, value in given if value is not None]
        if len(named) != 1:
            raise ValueError("name the profile by exactly one of profile_id, user_id or anonymous_id")
        return await run_in_threadpool(self._erase_profile, *named[0])

    def _erase_profile(self, kind: str, value: str) -> dict[str, typing.Any] | None:
        # The ID is resolved inside the write transaction: a batch can't merge the profile away between.
        with self.transaction(write=True) as db:
            if kind == "profile":
                profile_id: str | None = value
            else:
                rows = db.all("SELECT profile_id FROM identities WHERE kind = ? AND value = ?", (kind, value))
                profile_id = rows[0][0] if rows else None
            return None if profile_id is None else erase(db, profile_id)

    async def rebuild_profiles(self) -> int:
        return await run_in_threadpool(self._rebuild_profiles)

    def _rebuild_profiles(self) -> int:
        with self.transaction(write=True) as db:
            return rebuild(db)


def event_row(e: Event) -> tuple[typing.Any, ...]:
    return (
        e.write_key, e.message_id, e.type, e.anonymous_id, e.user_id, e.event,
        e.timestamp, e.original_timestamp, e.sent_at, e.received_at, e.body, e.session_id, e.verified, e.ip,
    )  # fmt: skip


@contextlib.contextmanager
def rollback_on_error(connection: typing.Any) -> typing.Iterator[None]:
    """COMMIT when the block succeeds, else ROLLBACK and re-raise."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # a broken connection can't roll back; the error that broke it matters
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
