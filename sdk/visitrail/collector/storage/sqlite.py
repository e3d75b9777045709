"""SQLite storage on the stdlib `sqlite3` module.

URLs follow SQLAlchemy and encode/databases: the path is what follows `sqlite:///`, so
`sqlite:///visitrail.db` is relative to the working directory, `sqlite:////tmp/v.db` (four slashes,
which `f"sqlite:///{absolute_path}"` produces) is absolute, and `sqlite:///:memory:` is in memory.

One connection is shared behind a lock and every call runs in a worker thread, so requests never
block the event loop and never interleave inside a transaction. Batches are small and SQLite
serialises writers anyway, so a pool would buy nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import typing

from starlette.concurrency import run_in_threadpool

from .base import Event, Storage

__all__ = ["SQLiteStorage"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
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
);
CREATE INDEX IF NOT EXISTS events_anonymous_id ON events (anonymous_id);
CREATE INDEX IF NOT EXISTS events_user_id ON events (user_id);
"""

INSERT = """
INSERT INTO events (write_key, message_id, type, anonymous_id, user_id, event,
                    timestamp, original_timestamp, sent_at, received_at, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (write_key, message_id) DO NOTHING
"""


class SQLiteStorage(Storage):
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
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            # WAL lets readers (the read API, a test peeking at the file) run while a batch is written.
            connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
        self._connection = connection

    async def disconnect(self) -> None:
        if self._connection is not None:
            with self._lock:
                self._connection.close()
                self._connection = None

    async def add(self, events: typing.Sequence[Event]) -> int:
        return await run_in_threadpool(self._add, events)

    def _add(self, events: typing.Sequence[Event]) -> int:
        rows = [
            (e.write_key, e.message_id, e.type, e.anonymous_id, e.user_id, e.event,
             e.timestamp, e.original_timestamp, e.sent_at, e.received_at, e.body)
            for e in events
        ]  # fmt: skip
        with self._lock:
            connection = self._require_connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                before = connection.total_changes
                connection.executemany(INSERT, rows)
                inserted = connection.total_changes - before
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return inserted

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
        params += [limit, offset]
        rows = await run_in_threadpool(self._fetch, sql, params)
        return [json.loads(body) for (body,) in rows]

    def _fetch(self, sql: str, params: list[typing.Any]) -> list[tuple[str]]:
        with self._lock:
            return self._require_connection().execute(sql, params).fetchall()

    def _require_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("SQLiteStorage is not connected; call connect() first")
        return self._connection
