"""Identity resolution, persisted: the part of the identity graph a batch touches is loaded into a
`profiles.Graph`, the batch's events applied to it in arrival order, and what changed written back,
all in the transaction that stores the events. `rebuild` replays every stored event through the
same code.

The work is bounded by what the batch names, never by the size of a profile it touches: a
profile is loaded as its row (counts, first and last seen) with only the IDs the batch names and
the trait keys it sets. A merge moves the rest of the loser with a few statements whose rows are
bounded by the identity limits (profiles.Limits): its IDs and traits are rewritten; its events are
not (their count is unbounded): `merged` maps every merged-away profileId to the profile it lives
on in, and reads look there (reads.py).

Tables (the DDL is in migrations.py):
    profiles(id, event_count, first_seen, last_seen, verified, user_count, anonymous_count, trait_count)
    identities(kind, value, profile_id, folded)                 kind: "user" | "anonymous"
    traits(profile_id, key, value, timestamp, event_id, folded, once)  value: JSON text; once: set once
    merged(loser, survivor)                                     survivor: always a living profile
    profile_log(id, profile_id, key, event_id, message_id, write_key, kind, ids, reason, other, at)
`folded` is the case-folded text that profile search reads (reads.py), computed here rather than
with SQL's lower(), which SQLite applies to ASCII only. There are no foreign keys: `save` keeps
every profile_id pointing at a living profile (or, for events and the log, at one `merged` names),
test_profile_storage.py checks it after every history, and `rebuild` recomputes them all.

Concurrency is the backend's: `claim` reads the owners of the batch's identities and, on
PostgreSQL, locks their rows (creating those not seen yet), and `lock` is the suffix that locks the
profiles' rows, so two batches wait for each other only when they touch the same identity or
profile (postgres.py).
"""

from __future__ import annotations

import hashlib
import json
import typing

from ..profiles import (
    ANONYMOUS,
    NO_LIMITS,
    USER,
    Graph,
    Identity,
    Limits,
    Link,
    LogEntry,
    Profile,
    Trait,
    session_id_of,
)
from .db import Transaction
from .sessions import rebuild_sessions

__all__ = [
    "Claim",
    "resolve",
    "rebuild",
    "load_profiles_by_id",
    "owner",
    "identity_of",
    "json_text",
    "folded",
    "select_claim",
    "merged_into",
]

REBUILD_CHUNK = 1000  # events replayed per step of a rebuild
UNCLAIMED = ""  # profile_id of an identity row a batch created before knowing its profile (postgres.py)

# (db, identities) -> each identity's profileId, None for one not seen yet
Claim = typing.Callable[[Transaction, set[Identity]], dict[Identity, str | None]]

PROFILE_COLUMNS = "id, event_count, first_seen, last_seen, verified, user_count, anonymous_count, trait_count"
UPSERT_PROFILE = f"""
INSERT INTO profiles ({PROFILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    event_count = excluded.event_count, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
    verified = excluded.verified, user_count = excluded.user_count, anonymous_count = excluded.anonymous_count,
    trait_count = excluded.trait_count
"""
UPSERT_IDENTITY = """
INSERT INTO identities (kind, value, profile_id, folded) VALUES (?, ?, ?, ?)
ON CONFLICT (value, kind) DO UPDATE SET profile_id = excluded.profile_id
"""
UPSERT_TRAIT = """
INSERT INTO traits (profile_id, key, value, timestamp, event_id, folded, once) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (profile_id, key) DO UPDATE SET
    value = excluded.value, timestamp = excluded.timestamp, event_id = excluded.event_id, folded = excluded.folded,
    once = excluded.once
"""
# A loser's traits into the survivor, each key to the value that wins by profiles.py's rule 5
# (Trait.beats: set once over regular; the earliest set-once value, the newest regular one).
# `WHERE true`: SQLite's parser needs it between INSERT ... SELECT and ON CONFLICT.
MERGE_TRAITS = """
INSERT INTO traits (profile_id, key, value, timestamp, event_id, folded, once)
SELECT ?, key, value, timestamp, event_id, folded, once FROM traits WHERE profile_id = ? AND true
ON CONFLICT (profile_id, key) DO UPDATE SET
    value = excluded.value, timestamp = excluded.timestamp, event_id = excluded.event_id, folded = excluded.folded,
    once = excluded.once
WHERE CASE
    WHEN excluded.once <> traits.once THEN excluded.once
    WHEN traits.once THEN excluded.timestamp < traits.timestamp
        OR (excluded.timestamp = traits.timestamp AND excluded.event_id < traits.event_id)
    ELSE excluded.timestamp > traits.timestamp
        OR (excluded.timestamp = traits.timestamp AND excluded.event_id > traits.event_id)
END
"""
INSERT_LOG = """
INSERT INTO profile_log (profile_id, key, event_id, message_id, write_key, kind, ids, reason, other, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (profile_id, key) DO NOTHING
"""


def json_text(value: typing.Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def folded(value: typing.Any) -> str:
    return (value if isinstance(value, str) else json_text(value)).casefold()


def select_claim(db: Transaction, identities: set[Identity]) -> dict[Identity, str | None]:
    """The owners of `identities`, read without locking: for a backend that serialises writers."""
    rows = db.all_in("SELECT kind, value, profile_id FROM identities WHERE value IN ({})", {v for _, v in identities})
    owners: dict[Identity, str | None] = dict.fromkeys(identities)
    for kind, value, pid in rows:
        if (kind, value) in owners:
            owners[(kind, value)] = pid
    return owners


def _profile(row: typing.Sequence[typing.Any]) -> Profile:
    pid, count, first, last, verified, users, anonymous, traits = row
    return Profile(
        pid,
        event_count=count,
        first_seen=first,
        last_seen=last,
        verified=bool(verified),
        user_count=int(users),
        anonymous_count=int(anonymous),
        trait_count=int(traits),
    )


def load_for_batch(
    db: Transaction, owners: dict[Identity, str | None], keys: set[str], lock: str = ""
) -> list[Profile]:
    """The profiles owning the batch's identities, each with its counts, the batch's identities it
    owns and its traits of `keys`: bounded by the batch, whatever the profiles' sizes. `lock`: the
    backend's suffix that locks the rows read (their order is fixed: by id)."""
    ids = sorted({pid for pid in owners.values() if pid})
    profiles: dict[str, Profile] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        sql = f"SELECT {PROFILE_COLUMNS} FROM profiles WHERE id IN ({', '.join('?' * len(chunk))}) ORDER BY id{lock}"
        for row in db.all(sql, chunk):
            profiles[row[0]] = _profile(row)
    # An identity pointing at a missing profile (a hand-made row) reads as unseen, and the next event
    # naming it gives it a profile again, instead of failing every batch.
    for (kind, value), pid in owners.items():
        if pid in profiles:
            profiles[pid].ids_of(kind).add(value)
    if keys and profiles:
        for pid, key, value, timestamp, event_id, once in _traits_of(db, sorted(profiles), sorted(keys)):
            profiles[pid].traits[key] = Trait(json.loads(value), timestamp, event_id, bool(once))
    return [profiles[pid] for pid in ids if pid in profiles]


def _traits_of(db: Transaction, ids: list[str], keys: list[str]) -> list[tuple[typing.Any, ...]]:
    """The traits of `keys` of the profiles `ids` (both lists in chunks)."""
    rows = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows += db.all_in(
            "SELECT profile_id, key, value, timestamp, event_id, once FROM traits WHERE key IN ({})"
            f" AND profile_id IN ({', '.join('?' * len(chunk))})",
            keys,
            chunk,
        )
    return rows


def load_profiles_by_id(db: Transaction, profile_ids: typing.Iterable[str]) -> list[Profile]:
    """Whole profiles (every ID and trait), for the read API."""
    ids = sorted(profile_ids)
    profiles = {
        row[0]: _profile(row) for row in db.all_in(f"SELECT {PROFILE_COLUMNS} FROM profiles WHERE id IN ({{}})", ids)
    }
    for kind, value, pid in db.all_in("SELECT kind, value, profile_id FROM identities WHERE profile_id IN ({})", ids):
        if pid in profiles:
            profiles[pid].ids_of(kind).add(value)
    for pid, key, value, timestamp, event_id, once in db.all_in(
        "SELECT profile_id, key, value, timestamp, event_id, once FROM traits WHERE profile_id IN ({})", ids
    ):
        if pid in profiles:
            profiles[pid].traits[key] = Trait(json.loads(value), timestamp, event_id, bool(once))
    return [profiles[pid] for pid in ids if pid in profiles]


def identity_of(user_id: str | None, anonymous_id: str | None) -> tuple[str, str | None]:
    return (USER, user_id) if user_id is not None else (ANONYMOUS, anonymous_id)


def owner(db: Transaction, identity: tuple[str, str | None]) -> str | None:
    """The profileId that holds this (kind, value) identity, if it has been seen."""
    rows = db.all("SELECT profile_id FROM identities WHERE kind = ? AND value = ?", identity)
    return rows[0][0] if rows and rows[0][0] != UNCLAIMED else None


def merged_into(db: Transaction, profile_id: str) -> list[str]:
    """`profile_id` and every profile merged into it: the profile_ids its events and log rows carry."""
    return [profile_id] + [loser for (loser,) in db.all("SELECT loser FROM merged WHERE survivor = ?", (profile_id,))]


def resolve(
    db: Transaction,
    links: typing.Sequence[Link],
    refuse: bool = False,
    *,
    claim: Claim = select_claim,
    lock: str = "",
    limits: Limits = NO_LIMITS,
) -> Graph:
    """Apply `links` (in arrival order) to the stored identity graph and write back what changed.
    `refuse`: skip the links rule 7 refuses (profiles.py), listed in the graph's `refused`; a
    rebuild applies them, merging nothing. `claim` and `lock`: the backend's (see above)."""
    identities = Graph.identities_of(links)
    owners = claim(db, identities)
    graph = Graph(load_for_batch(db, owners, Graph.trait_keys_of(links), lock), limits=limits)
    for link in links:
        reason = graph.refusal(link) if refuse else None
        if reason is not None:
            graph.refuse(link, reason)
        else:
            graph.apply(link)
    save(db, graph)
    unused = [identity for identity, pid in owners.items() if pid == UNCLAIMED and identity not in graph.owner]
    db.run_many("DELETE FROM identities WHERE kind = ? AND value = ? AND profile_id = ''", unused)
    return graph


def save(db: Transaction, graph: Graph) -> None:
    recount = set()
    for merge in map(graph.final_merge, graph.merges):  # in order: a survivor may be merged away later
        loser, survivor = merge.loser, merge.survivor
        db.run("UPDATE identities SET profile_id = ? WHERE profile_id = ?", (survivor, loser))
        if merge.traits:
            db.run(MERGE_TRAITS, (survivor, loser))
        db.run("DELETE FROM traits WHERE profile_id = ?", (loser,))
        db.run("DELETE FROM profiles WHERE id = ?", (loser,))
        db.run("UPDATE merged SET survivor = ? WHERE survivor = ?", (survivor, loser))
        db.run("INSERT INTO merged (loser, survivor) VALUES (?, ?)", (loser, survivor))
        recount.add(survivor)
    traits = [(pid, key, graph.profiles[pid].traits[key]) for pid, key in sorted(graph.traits_changed)]
    db.run_many(
        UPSERT_TRAIT,
        [(pid, key, json_text(t.value), t.timestamp, t.event_id, folded(t.value), t.once) for pid, key, t in traits],
    )
    for pid in recount:  # the merged traits' keys, counted without their overlap
        graph.profiles[pid].trait_count = int(db.all("SELECT COUNT(*) FROM traits WHERE profile_id = ?", (pid,))[0][0])
    db.run_many(
        UPSERT_PROFILE,
        [
            (p.id, p.event_count, p.first_seen, p.last_seen, p.verified, p.user_count, p.anonymous_count, p.trait_count)
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


def log_rows(graph: Graph, about: typing.Callable[[int], tuple[str, str, str]]) -> list[tuple[typing.Any, ...]]:
    """The graph's log as profile_log rows; `about(event_id)`: (message_id, write_key, receivedAt)."""
    rows = []
    for entry in graph.log:
        message_id, write_key, at = about(entry.event_id)
        rows.append(
            (
                entry.profile_id if entry.profile_id not in graph.merged else graph.final_id(entry.profile_id),
                log_key(entry),
                entry.event_id,
                message_id,
                write_key,
                entry.kind,
                json_text([{"kind": kind, "value": value} for kind, value in entry.ids]),
                entry.reason,
                entry.other,
                at,
            )
        )
    return rows


def log_key(entry: LogEntry) -> str:
    """What makes a log entry new for its profile: the same refusal over and over (every event of a
    shared device) is logged once."""
    text = json_text([entry.kind, entry.reason, sorted(entry.ids), entry.other])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def rebuild(db: Transaction, limits: Limits = NO_LIMITS) -> int:
    """Recompute session ids, profiles and the sessions table from the events table, replaying it in
    arrival order."""
    for table in ("traits", "identities", "profiles", "merged", "profile_log"):
        db.run(f"DELETE FROM {table}")
    last = 0
    while True:
        rows = db.all(
            "SELECT id, type, timestamp, user_id, anonymous_id, body, verified, previous_verified, session_id, "
            "message_id, write_key, received_at, profile_id FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (last, REBUILD_CHUNK),
        )
        if not rows:
            break
        sessions = [(session_id_of(json.loads(row[5])), row[0]) for row in rows]
        db.run_many(
            "UPDATE events SET session_id = ? WHERE id = ?",
            [(new, event_id) for (new, event_id), row in zip(sessions, rows, strict=True) if new != row[8]],
        )
        graph = resolve(db, [Link.from_row(*row[:8]) for row in rows], limits=limits)
        final = graph.final_event_profiles()
        db.run_many(
            "UPDATE events SET profile_id = ? WHERE id = ?",
            [(final.get(row[0]), row[0]) for row in rows if final.get(row[0]) != row[12]],
        )
        about = {row[0]: (row[9], row[10], row[11]) for row in rows}
        db.run_many(INSERT_LOG, log_rows(graph, about.__getitem__))
        last = rows[-1][0]
    rebuild_sessions(db)  # with the events' new session and profile ids
    return int(db.all("SELECT COUNT(*) FROM profiles")[0][0])
