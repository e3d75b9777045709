"""The right to erasure: a profile, its traits, every ID it holds and every event that is its,
deleted in one transaction, and a tombstone of each of its IDs.

A tombstone is what stops the erased person from coming back by accident: a browser's persisted
queue, a beacon retried, an analytics-python backlog replaying the old events would otherwise
re-create the profile the moment after it was erased. For ERASED_IDS_KEPT after the erasure, an
event naming an erased ID (as userId, anonymousId or an alias's previousId) is refused (`add`).
Tombstones keep a SHA-256 of the ID, not the ID, and are deleted once they expire.

Making the deletion physical is the backend's part (`SQLStorage.after_erase`): SQLite checkpoints
its WAL (with secure_delete on, so freed pages are zeroed), PostgreSQL vacuums the tables.
"""

from __future__ import annotations

import datetime
import hashlib
import typing

from ..profiles import ANONYMOUS, USER
from ..timestamps import format_timestamp
from .base import Event
from .db import Transaction
from .reads import OWNED

__all__ = ["ERASED", "ERASED_IDS_KEPT", "ERASED_TABLES", "erase", "erased_positions", "digest"]

ERASED_IDS_KEPT = datetime.timedelta(days=30)
ERASED = "an ID of this event belongs to a profile that was erased; its events are refused for 30 days"
ERASED_TABLES = ("events", "identities", "traits", "profiles", "erased", "merged", "profile_log", "sessions")


def digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def erase(db: Transaction, profile_id: str, now: datetime.datetime, lock: str = "") -> dict[str, typing.Any] | None:
    """Delete a profile and everything that is its: see `Storage.erase_profile`."""
    if not db.all("SELECT id FROM profiles WHERE id = ?", (profile_id,)):
        return None
    until = format_timestamp(now + ERASED_IDS_KEPT)
    db.run("DELETE FROM erased WHERE until <= ?", (format_timestamp(now),))
    # In the order batches lock identities (postgres.py): a batch naming one of them waits, or we do.
    ids = db.all(f"SELECT kind, value FROM identities WHERE profile_id = ? ORDER BY value, kind{lock}", (profile_id,))
    db.run_many(
        "INSERT INTO erased (kind, digest, until) VALUES (?, ?, ?) ON CONFLICT (kind, digest) DO UPDATE SET until = ?",
        [(kind, digest(kind, value), until, until) for kind, value in ids],
    )
    # Its events and log entries, and those of the profiles merged into it (reads.OWNED), before
    # `merged` forgets which those are.
    events = db.run(f"DELETE FROM events WHERE {OWNED}", (profile_id, profile_id))
    db.run(f"DELETE FROM profile_log WHERE {OWNED}", (profile_id, profile_id))
    db.run(f"DELETE FROM sessions WHERE {OWNED}", (profile_id, profile_id))
    db.run("DELETE FROM merged WHERE survivor = ?", (profile_id,))
    identities = db.run("DELETE FROM identities WHERE profile_id = ?", (profile_id,))
    db.run("DELETE FROM traits WHERE profile_id = ?", (profile_id,))
    db.run("DELETE FROM profiles WHERE id = ?", (profile_id,))
    return {"profileId": profile_id, "events": events, "identities": identities}


def _named(event: Event, previous_id: str | None) -> list[tuple[str, str]]:
    named = [(USER, event.user_id), (ANONYMOUS, event.anonymous_id)]
    if previous_id is not None:
        named += [(USER, previous_id), (ANONYMOUS, previous_id)]
    return [(kind, value) for kind, value in named if value is not None]


def erased_positions(
    db: Transaction, events: typing.Sequence[Event], previous_ids: typing.Sequence[str | None]
) -> set[int]:
    """The positions of the events naming an ID whose tombstone is still in force at their receipt."""
    named = [_named(event, previous) for event, previous in zip(events, previous_ids, strict=True)]
    digests = {digest(kind, value) for ids in named for kind, value in ids}
    if not digests:
        return set()
    rows = db.all_in("SELECT kind, digest, until FROM erased WHERE digest IN ({})", digests)
    until = {(kind, found): expires for kind, found, expires in rows}
    return {
        position
        for position, (event, ids) in enumerate(zip(events, named, strict=True))
        if any(until.get((kind, digest(kind, value)), "") > event.received_at for kind, value in ids)
    }
