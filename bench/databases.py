"""bench.ingest's databases: the throwaway PostgreSQL server, the ceiling (the same events
inserted straight into a bare table), the rows the collector stored, and PostgreSQL's CPU time.

The raw table: message_id, type, anonymous_id, user_id, timestamp, body; no index, no key; one
INSERT ... executemany per batch in its own transaction, one connection, sqlite3 / psycopg
directly: no HTTP, validation, dedup or profile resolution. SQLite in WAL mode with the
collector's (default) synchronous setting.
"""

import sqlite3
import time

from visitrail.dev.postgres import server_or_reason

from . import machine

RAW_TABLE = """CREATE TABLE raw_events (
    message_id TEXT NOT NULL, type TEXT NOT NULL, anonymous_id TEXT, user_id TEXT, timestamp TEXT NOT NULL,
    body TEXT NOT NULL
)"""
RAW_INSERT = (
    "INSERT INTO raw_events (message_id, type, anonymous_id, user_id, timestamp, body) VALUES (?, ?, ?, ?, ?, ?)"
)
STORED_TABLES = ("events", "profiles", "identities")


def start_postgres():
    """(server, what it is), or (None, why not), as the tests find theirs."""
    server, what = server_or_reason()
    return server, ("postgres: " + what + (" (as in the tests)" if server is not None else ""))


def raw_sqlite(path, workload):
    """Wall time s of the workload's rows inserted into a bare SQLite table."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")  # as the collector's file
        connection.execute(RAW_TABLE)
        began = time.perf_counter()
        for rows in workload.rows:
            connection.execute("BEGIN")
            connection.executemany(RAW_INSERT, rows)
            connection.execute("COMMIT")
        return time.perf_counter() - began
    finally:
        connection.close()


def raw_postgres(db_url, workload):
    """Wall time s of the workload's rows inserted into a bare PostgreSQL table."""
    import psycopg

    insert = RAW_INSERT.replace("?", "%s")
    with psycopg.connect(db_url, autocommit=True) as connection:
        connection.execute(RAW_TABLE)
        began = time.perf_counter()
        for rows in workload.rows:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(insert, rows)
        return time.perf_counter() - began


def count_rows(backend, db_url):
    """Rows the collector stored, read from the database itself."""
    if backend == "sqlite":
        with sqlite3.connect(f"file:{db_url.split(':///', 1)[1]}?mode=ro", uri=True) as connection:
            return {t: connection.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in STORED_TABLES}
    import psycopg

    with psycopg.connect(db_url) as connection:
        return {t: connection.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in STORED_TABLES}


def postgres_cpu(db_url):
    """CPU seconds of each process of the PostgreSQL server behind `db_url`, by pid, when it runs on
    this machine (the postmaster's children: backends, WAL writer, checkpointer...), else None."""
    import psycopg

    with psycopg.connect(db_url) as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
        # Read while this backend is alive: it ends with the connection.
        postmaster = machine.parent_of(backend)
    # None: a server elsewhere, or in another PID namespace.
    if postmaster is None or not (machine.command_of(postmaster) or "").startswith("postgres"):
        return None
    return machine.children_cpu(postmaster)
