"""PostgreSQL's events table, partitioned by the day each event was received (the server's clock,
which no client chooses): `LIST (received_day)`, one partition a day, named `events_YYYYMMDD`.

Why by day received: retention (`--retain-days`) then drops whole partitions, which costs nothing
however many rows they hold and leaves no dead rows to vacuum; and every read of the API is served
by the partitions' indexes (reads.py), so a bigger table costs a lookup one index probe per
partition. A partition is created before the first batch of its day needs it (`ensure`, once per
process and day); `events_default` catches a row of a day without one (a partition that could not
be created in time), so an insert never fails for want of one.

Deduplication: PostgreSQL's unique indexes on a partitioned table must include the partition key,
so (write_key, message_id, received_day) is unique, and sql.py looks for the message on every day
before inserting: a retry on a later day is still acknowledged and not stored twice.
"""

from __future__ import annotations

import datetime
import re
import typing

from .db import Transaction

__all__ = ["EVENTS_TABLE", "EVENTS_INDEXES", "partition_name", "create_partition", "convert", "expired_partitions"]

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PARTITION = re.compile(r"^events_(\d{4})(\d{2})(\d{2})$")
# Lock key of the partitions' DDL, so that two processes don't create one twice at once.
PARTITIONS_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('visitrail.partitions', 0))"
EVENT_IDS = "event_ids"  # the sequence events' ids come from (allocated before the insert: sql.py)

# Today's events table, partitioned: convert() runs after the DDL of every later version too
# (migrations.migrate), so it makes their columns as well (version 6's bot).
EVENTS_TABLE = f"""CREATE TABLE events (
    id BIGINT NOT NULL DEFAULT nextval('{EVENT_IDS}'),
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
    session_id TEXT,
    profile_id TEXT,
    verified BOOLEAN NOT NULL DEFAULT FALSE,
    ip TEXT,
    previous_verified BOOLEAN NOT NULL DEFAULT FALSE,
    bot BOOLEAN NOT NULL DEFAULT FALSE,
    received_day TEXT NOT NULL,
    UNIQUE (write_key, message_id, received_day)
) PARTITION BY LIST (received_day)"""
EVENTS_INDEXES = (
    "CREATE INDEX events_by_id ON events (id)",
    "CREATE INDEX events_by_anonymous_id ON events (anonymous_id)",
    "CREATE INDEX events_by_user_id ON events (user_id)",
    "CREATE INDEX events_by_profile ON events (profile_id, timestamp)",
    "CREATE INDEX events_by_message_id ON events (message_id)",
)
COLUMNS = (
    "id, write_key, message_id, type, anonymous_id, user_id, event, timestamp, original_timestamp, sent_at, "
    "received_at, body, session_id, profile_id, verified, ip, previous_verified, bot"
)


def partition_name(day: str) -> str:
    if not DAY.match(day):
        raise ValueError(f"not a day: {day!r}")
    return "events_" + day.replace("-", "")


def create_partition(db: Transaction, day: str) -> None:
    """The partition of `day` (YYYY-MM-DD), if it is missing. `day` is checked: it goes into DDL."""
    db.run(PARTITIONS_LOCK)
    db.run(f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF events FOR VALUES IN ('{day}')")


def convert(db: Transaction) -> None:
    """Schema version 5: the unpartitioned events table of versions 1 to 4 becomes partitioned,
    its rows copied into their days' partitions, their ids kept."""
    db.run("ALTER TABLE events RENAME TO events_v4")
    db.run(f"CREATE SEQUENCE {EVENT_IDS}")
    db.run(EVENTS_TABLE)
    for statement in EVENTS_INDEXES:
        db.run(statement)
    db.run("CREATE TABLE events_default PARTITION OF events DEFAULT")
    for (day,) in db.all("SELECT DISTINCT substr(received_at, 1, 10) FROM events_v4"):
        if DAY.match(day):
            create_partition(db, day)
    db.run(f"INSERT INTO events ({COLUMNS}, received_day) SELECT {COLUMNS}, substr(received_at, 1, 10) FROM events_v4")
    db.run(f"SELECT setval('{EVENT_IDS}', GREATEST((SELECT MAX(id) FROM events_v4), 1))")
    db.run("DROP TABLE events_v4")


def expired_partitions(db: Transaction, before: str) -> list[str]:
    """The day partitions whose every row was received before the day `before` (YYYY-MM-DD)."""
    rows = db.all(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass"
    )
    found = []
    for (name,) in rows:
        match = PARTITION.match(name)
        if match and "-".join(match.groups()) < before:
            found.append(name)
    return sorted(found)


def days_of(received: typing.Iterable[str]) -> set[str]:
    return {at[:10] for at in received}


def today_and_tomorrow(now: datetime.datetime) -> set[str]:
    return {(now + datetime.timedelta(days=n)).strftime("%Y-%m-%d") for n in (0, 1)}
