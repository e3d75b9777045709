"""Identity resolution, persisted: the profiles a batch touches are loaded into a `profiles.Graph`,
the batch's events applied to it in arrival order, and what changed written back, all in the
transaction that stores the events. `rebuild` replays every stored event through the same code.

Tables (the DDL is in migrations.py):
    profiles(id, event_count, first_seen, last_seen, verified)  one row per profile
    identities(kind, value, profile_id, folded)                 kind: "user" | "anonymous"
    traits(profile_id, key, value, timestamp, event_id, folded) value: JSON text
`folded` is the case-folded text that profile search reads (reads.py), computed here rather than
with SQL's lower(), which SQLite applies to ASCII only. There are no foreign keys: `save` keeps
every profile_id pointing at a living profile (test_profile_storage.py checks it after every
history), and `rebuild` recomputes them all.
"""

from __future__ import annotations

import json
import typing

from ..profiles import ANONYMOUS, USER, Graph, Link, Profile, Trait, session_id_of
from .db import Transaction

__all__ = ["resolve", "rebuild", "load_profiles_by_id", "owner", "identity_of", "json_text", "folded"]

REBUILD_CHUNK = 1000  # events replayed per step of a rebuild

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


def json_text(value: typing.Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def folded(value: typing.Any) -> str:
    return (value if isinstance(value, str) else json_text(value)).casefold()


def load_profiles(db: Transaction, identities: set[tuple[str, str]]) -> list[Profile]:
    """The profiles owning any of `identities`, complete with all their identities and traits."""
    rows = db.all_in("SELECT kind, value, profile_id FROM identities WHERE value IN ({})", {v for _, v in identities})
    return load_profiles_by_id(db, {pid for kind, value, pid in rows if (kind, value) in identities})


def load_profiles_by_id(db: Transaction, profile_ids: typing.Iterable[str]) -> list[Profile]:
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


def owner(db: Transaction, identity: tuple[str, str | None]) -> str | None:
    """The profileId that holds this (kind, value) identity, if it has been seen."""
    rows = db.all("SELECT profile_id FROM identities WHERE kind = ? AND value = ?", identity)
    return rows[0][0] if rows else None


def resolve(db: Transaction, links: typing.Sequence[Link], refuse: bool = False) -> Graph:
    """Apply `links` (in arrival order) to the stored identity graph and write back what changed.
    `refuse`: skip the links rule 7 refuses (profiles.py), listed in the graph's `refused`; a
    rebuild applies them, merging nothing."""
    graph = Graph(load_profiles(db, Graph.identities_of(links)))
    for link in links:
        reason = graph.refusal(link) if refuse else None
        if reason is not None:
            graph.refused[link.event_id] = reason
        else:
            graph.apply(link)
    save(db, graph)
    return graph


def save(db: Transaction, graph: Graph) -> None:
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


def rebuild(db: Transaction) -> int:
    """Recompute session ids and profiles from the events table, replaying it in arrival order."""
    for table in ("traits", "identities", "profiles"):
        db.run(f"DELETE FROM {table}")
    db.run("UPDATE events SET profile_id = NULL")
    last = 0
    while True:
        rows = db.all(
            "SELECT id, type, timestamp, user_id, anonymous_id, body, verified, previous_verified, session_id "
            "FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (last, REBUILD_CHUNK),
        )
        if not rows:
            break
        sessions = [(session_id_of(json.loads(row[5])), row[0]) for row in rows]
        db.run_many(
            "UPDATE events SET session_id = ? WHERE id = ?",
            [(new, event_id) for (new, event_id), row in zip(sessions, rows, strict=True) if new != row[8]],
        )
        resolve(db, [Link.from_row(*row[:8]) for row in rows])
        last = rows[-1][0]
    return int(db.all("SELECT COUNT(*) FROM profiles")[0][0])
