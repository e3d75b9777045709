"""The schema's history, shared by both backends: each backend lists its migrations (version 1's
DDL is its own, the later ones come from `profile_migrations`) and `migrate` brings a database to
the newest version, in the caller's write transaction.

    1  events
    2  profiles, identities, traits; events.session_id, events.profile_id (then: rebuild)
    3  events.verified, events.ip, profiles.verified (then: identity tokens out of stored bodies)
    4  events.previous_verified; erased (erasure.py's tombstones); logins (the dashboard's, logins.py)
    5  profiles' counts (rule 8's limits), merged, profile_log (resolution.py); PostgreSQL: events
       partitioned by the day received (partitions.py); SQLite: an index for retention
    6  events.bot; sessions (sessions.py), filled from the stored events
    7  traits.once (set-once traits, profiles.py rule 5)
"""

from __future__ import annotations

import dataclasses
import json
import typing

from .db import Transaction
from .resolution import json_text, rebuild
from .sessions import rebuild_sessions

__all__ = [
    "Migration",
    "profile_migrations",
    "scale_migration",
    "session_migration",
    "once_migration",
    "count_profiles",
    "migrate",
    "strip_identity_tokens",
]

REWRITE_CHUNK = 1000  # bodies rewritten per step


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    statements: tuple[str, ...]
    # Python work in the same transaction, after the DDL of every pending migration (see migrate)
    then: typing.Callable[[Transaction], object] | None = None


def strip_identity_tokens(db: Transaction) -> None:
    """Take `context.identityToken` out of stored bodies: collectors before schema version 3 kept it,
    and a credential has no business in the events table (messages.py strips it on arrival now)."""
    last = 0
    while True:
        rows = db.all(
            "SELECT id, body FROM events WHERE id > ? AND body LIKE ? ORDER BY id LIMIT ?",
            (last, "%identityToken%", REWRITE_CHUNK),  # a parameter: psycopg reads % in SQL text as one
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


def profile_migrations(integer: str, boolean: str) -> tuple[Migration, ...]:
    """Versions 2 to 4, the same on every backend but for two column types: `integer` for
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
        Migration(
            4,
            (
                f"ALTER TABLE events ADD COLUMN previous_verified {boolean}",
                """CREATE TABLE erased (
                    kind TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    until TEXT NOT NULL,
                    PRIMARY KEY (kind, digest)
                )""",
                """CREATE TABLE logins (
                    digest TEXT PRIMARY KEY,
                    token_mac TEXT NOT NULL,
                    expires TEXT NOT NULL
                )""",
            ),
        ),
    )


def count_profiles(db: Transaction) -> None:
    """Fill the counts of schema version 5 for the profiles stored before it."""
    db.run(
        """UPDATE profiles SET
            user_count = (SELECT COUNT(*) FROM identities WHERE profile_id = profiles.id AND kind = 'user'),
            anonymous_count = (SELECT COUNT(*) FROM identities WHERE profile_id = profiles.id AND kind = 'anonymous'),
            trait_count = (SELECT COUNT(*) FROM traits WHERE profile_id = profiles.id)"""
    )


def scale_migration(
    integer: str,
    serial: str,
    statements: tuple[str, ...] = (),
    then: typing.Callable[[Transaction], object] = count_profiles,
) -> Migration:
    """Version 5: `integer` as in `profile_migrations`, `serial` the log's key column; a backend's own
    `statements` (its events table's part) and `then` (which must call count_profiles)."""
    return Migration(
        5,
        (
            f"ALTER TABLE profiles ADD COLUMN user_count {integer} NOT NULL DEFAULT 0",
            f"ALTER TABLE profiles ADD COLUMN anonymous_count {integer} NOT NULL DEFAULT 0",
            f"ALTER TABLE profiles ADD COLUMN trait_count {integer} NOT NULL DEFAULT 0",
            "CREATE TABLE merged (loser TEXT PRIMARY KEY, survivor TEXT NOT NULL)",
            "CREATE INDEX merged_survivor ON merged (survivor)",
            f"""CREATE TABLE profile_log (
                id {serial},
                profile_id TEXT NOT NULL,
                key TEXT NOT NULL,
                event_id {integer},
                message_id TEXT,
                write_key TEXT,
                kind TEXT NOT NULL,
                ids TEXT NOT NULL,
                reason TEXT NOT NULL,
                other TEXT,
                at TEXT,
                UNIQUE (profile_id, key)
            )""",
            *statements,
        ),
        then=then,
    )


def session_migration(integer: str, boolean: str) -> Migration:
    """Version 6, with the column types of `profile_migrations`."""
    return Migration(
        6,
        (
            f"ALTER TABLE events ADD COLUMN bot {boolean}",
            f"""CREATE TABLE sessions (
                write_key TEXT NOT NULL,
                session_id TEXT NOT NULL,
                profile_id TEXT,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                event_count {integer} NOT NULL,
                page_views {integer} NOT NULL,
                entry_key TEXT NOT NULL,
                entry_url TEXT,
                referrer TEXT,
                campaign TEXT NOT NULL,
                click_ids TEXT NOT NULL,
                exit_key TEXT NOT NULL,
                exit_url TEXT,
                engaged_ms {integer} NOT NULL,
                identified {boolean},
                bot {boolean},
                PRIMARY KEY (write_key, session_id)
            )""",
            "CREATE INDEX sessions_profile ON sessions (profile_id, last_seen)",
            "CREATE INDEX sessions_first_seen ON sessions (first_seen)",
        ),
        then=rebuild_sessions,
    )


def once_migration(boolean: str) -> Migration:
    """Version 7, `boolean` as in `profile_migrations`. The traits stored before it are regular ones:
    no collector before it read `context.traitsOnce` (an event stored with one counts from the
    next `rebuild-profiles`, not worth a rebuild of every database now)."""
    return Migration(7, (f"ALTER TABLE traits ADD COLUMN once {boolean}",))


def migrate(db: Transaction, migrations: typing.Sequence[Migration], has_events_table: bool) -> None:
    """Bring the schema to the newest of `migrations`; call inside a write transaction."""
    db.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    rows = db.all("SELECT version FROM schema_version")
    if rows:
        version = int(rows[0][0])
    else:
        # Databases from before schema_version have version 1's events table and nothing else.
        version = 1 if has_events_table else 0
        db.run("INSERT INTO schema_version (version) VALUES (?)", (version,))
    newest = max(m.version for m in migrations)
    if version > newest:
        raise ValueError(
            f"the database's schema is version {version}, newer than this collector knows ({newest}); upgrade visitrail"
        )
    pending = [migration for migration in migrations if migration.version > version]
    for migration in pending:
        for statement in migration.statements:
            db.run(statement)
    # Python steps run once all the DDL has: they use today's SQL, which expects today's schema.
    for migration in pending:
        if migration.then is not None:
            migration.then(db)
    if pending:
        db.run("UPDATE schema_version SET version = ?", (newest,))
