"""SQLite storage on the stdlib `sqlite3` module.

URLs follow SQLAlchemy and encode/databases: the path is what follows `sqlite:///`, so
`sqlite:///visitrail.db` is relative to the working directory, `sqlite:////tmp/v.db` (four slashes,
which `f"sqlite:///{absolute_path}"` produces) is absolute, and `sqlite:///:memory:` is in memory.

One connection is shared behind a lock and every call runs in a worker thread, so requests never
block the event loop and never interleave inside a transaction. Batches are small and SQLite
serialises writers anyway, so a pool would buy nothing. Writes use BEGIN IMMEDIATE, which takes
the database's write lock up front: a second process on the same file waits (busy timeout) instead
of resolving profiles from a snapshot that another writer is about to change.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import typing

from starlette.concurrency import run_in_threadpool

from .db import Transaction, rollback_on_error
from .migrations import Migration, once_migration, profile_migrations, scale_migration, session_migration
from .sessions import expire_sessions
from .sql import INSERT_EVENT, SQLStorage
from .stats import SQLITE

__all__ = ["SQLiteStorage", "MIGRATIONS"]

BUSY_TIMEOUT_SECONDS = 30.0

MIGRATIONS = (
    Migration(
        1,
        (
            """CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                write_key TEXT NOT NULL,
                message_id TEXT NOT NULL,
                type TEXT NOT NULL,
                anonymous_id TEXT,
                user_id TEXT,
                event TEXT,
                timestamp TEXT NOT NULL,
                original_timestamp TEXT,
                sent_at TEXT,
                received_at TEXT NOT NULL,
                body TEXT NOT NULL,
                UNIQUE (write_key, message_id)
            )""",
            "CREATE INDEX IF NOT EXISTS events_anonymous_id ON events (anonymous_id)",
            "CREATE INDEX IF NOT EXISTS events_user_id ON events (user_id)",
        ),
    ),
    *profile_migrations("INTEGER", "INTEGER NOT NULL DEFAULT 0"),
    scale_migration(
        "INTEGER",
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        (
            "CREATE INDEX events_received ON events (received_at)",  # retention's deletes (`expire`)
            "CREATE INDEX events_message_id ON events (message_id)",  # /api/events?messageId= of any source
        ),
    ),
    session_migration("INTEGER", "INTEGER NOT NULL DEFAULT 0"),
    once_migration("INTEGER NOT NULL DEFAULT 0"),
)
EXPIRE_CHUNK = 1000  # events deleted per transaction by retention: writers get the lock in between


def use_wal(connection: sqlite3.Connection) -> None:
    """Switch the file to WAL. That needs the file to itself for a moment, and SQLite's busy timeout
    does not cover it: a second process opening the file at the same time gets "database is
    locked" at once. So it is retried, within the same timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SQLiteStorage(SQLStorage):
    migrations = MIGRATIONS
    dialect = SQLITE

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = url.split("://", 1)[1][1:]  # drop the "/" that separates the empty host
        if not self.path:
            raise ValueError(f"No database path in {url!r}; e.g. sqlite:///visitrail.db")
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    async def connect(self) -> None:
        await run_in_threadpool(self._connect)

    def _connect(self) -> None:
        if self.path != ":memory:":
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(directory):
                raise ValueError(
                    f"Cannot create SQLite database {self.path!r}: directory {directory!r} does not exist "
                    "(sqlite:///rel.db is relative to the working directory, sqlite:////abs/path.db absolute)"
                )
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is one explicit transaction.
        connection = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS
        )
        if self.path != ":memory:":
            # WAL lets readers (the read API, a test peeking at the file) run while a batch is written.
            use_wal(connection)
        # Deleted rows' bytes are zeroed, not left in free pages: an erasure must not stay readable
        # in the file. Debian's SQLite is built with it on; other builds are not.
        connection.execute("PRAGMA secure_delete = ON")
        self._connection = connection
        with self.transaction(write=True) as db:
            self.migrate(db)

    def after_erase(self) -> None:
        # The WAL still holds the pages as they were before the erasure (every copy ever written
        # since the last checkpoint): copy the new pages back into the file and empty the WAL.
        if self.path == ":memory:":
            return
        with self._lock:
            self._require_connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    async def disconnect(self) -> None:
        if self._connection is not None:
            with self._lock:
                self._connection.close()
                self._connection = None

    def allocate_ids(self, db: Transaction, count: int) -> list[int]:
        # One writer at a time (BEGIN IMMEDIATE): the next ids are AUTOINCREMENT's, never reused.
        rows = db.all("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        base = int(rows[0][0]) if rows else 0
        return list(range(base + 1, base + 1 + count))

    def insert_events(self, db: Transaction, rows: typing.Sequence[tuple[typing.Any, ...]]) -> int:
        before = db.connection.total_changes
        db.connection.executemany(INSERT_EVENT, rows)
        return int(db.connection.total_changes - before)

    def _expire(self, before: str) -> int:
        deleted = 0
        while True:
            with self.transaction(write=True) as db:
                count = db.run(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < ? LIMIT ?)",
                    (before, EXPIRE_CHUNK),
                )
            deleted += count
            if count < EXPIRE_CHUNK:
                break
        while True:
            with self.transaction(write=True) as db:
                count = expire_sessions(db, before, EXPIRE_CHUNK)
            if count < EXPIRE_CHUNK:
                return deleted

    @contextlib.contextmanager
    def transaction(self, write: bool, exclusive: bool = False) -> typing.Iterator[Transaction]:
        with self._lock:
            connection = self._require_connection()
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            with rollback_on_error(connection):
                yield Transaction(connection)

    def has_table(self, db: Transaction, name: str) -> bool:
        return bool(db.all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    def _require_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("SQLiteStorage is not connected; call connect() first")
        return self._connection
