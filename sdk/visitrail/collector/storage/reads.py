"""The read model: profiles, their sessions and their search, in the read API's JSON shape
(see storage/base.py)."""

from __future__ import annotations

import json
import typing

from .db import Transaction
from .resolution import load_profiles_by_id

__all__ = ["summaries", "sessions_of", "search", "profile_log", "owned", "MAX_SESSIONS", "OWNED"]

MAX_SESSIONS = 1000  # sessions listed per profile, newest first
# The rows (events, log entries) of a living profile: its own and those of the profiles merged into
# it (resolution.py's `merged`); none for a profile merged away. Parameters: the profileId twice.
OWNED = "profile_id IN (SELECT id FROM profiles WHERE id = ? UNION ALL SELECT loser FROM merged WHERE survivor = ?)"
OWNED_LISTED = 10_000  # profileIds put in the statement itself; more (no identity limits): OWNED


def owned(db: Transaction, profile_id: str) -> tuple[str, list[typing.Any]]:
    """A WHERE clause and its parameters for the rows of `profile_id` (OWNED). The profileIds are
    listed in the statement when they are few (and the limits keep them so: each merge brought at
    least one ID), which lets both planners probe the (profile_id, timestamp) index once per
    profileId, rather than guess how many rows a subquery returns."""
    if not db.all("SELECT 1 FROM profiles WHERE id = ?", (profile_id,)):
        return "1 = 0", []
    ids = [profile_id] + [loser for (loser,) in db.all("SELECT loser FROM merged WHERE survivor = ?", (profile_id,))]
    if len(ids) > OWNED_LISTED:
        return OWNED, [profile_id, profile_id]
    return f"profile_id IN ({', '.join('?' * len(ids))})", ids


SESSIONS = f"""
SELECT session_id, MIN(timestamp), MAX(timestamp), COUNT(*) FROM events
WHERE {{}} AND session_id IS NOT NULL
GROUP BY session_id ORDER BY MAX(timestamp) DESC, session_id LIMIT {MAX_SESSIONS}
"""
SEARCH = r"""
SELECT id FROM profiles
WHERE id = ?
   OR id IN (SELECT profile_id FROM identities WHERE folded LIKE ? ESCAPE '\')
   OR id IN (SELECT profile_id FROM traits WHERE folded LIKE ? ESCAPE '\')
ORDER BY last_seen DESC, id LIMIT ?
"""


def like_pattern(query: str) -> str:
    escaped = query.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def summaries(db: Transaction, profile_ids: typing.Sequence[str]) -> list[dict[str, typing.Any]]:
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


def sessions_of(db: Transaction, profile_id: str) -> list[dict[str, typing.Any]]:
    where, params = owned(db, profile_id)
    return [
        {"sessionId": session, "firstSeen": first, "lastSeen": last, "eventCount": count}
        for session, first, last, count in db.all(SESSIONS.format(where), [*params])
    ]


def search(db: Transaction, query: str, limit: int) -> list[dict[str, typing.Any]]:
    """Profiles with an ID or trait value containing `query`, last seen first (no query: the last seen)."""
    if query:
        pattern = like_pattern(query)
        rows = db.all(SEARCH, (query, pattern, pattern, limit))
    else:
        rows = db.all("SELECT id FROM profiles ORDER BY last_seen DESC, id LIMIT ?", (limit,))
    return summaries(db, [pid for (pid,) in rows])


def profile_log(db: Transaction, profile_id: str, limit: int) -> list[dict[str, typing.Any]]:
    """A profile's merge log, newest first: every merge into it and every link it refused."""
    where, params = owned(db, profile_id)
    rows = db.all(
        "SELECT kind, message_id, write_key, ids, reason, other, at, event_id FROM profile_log "
        f"WHERE {where} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [
        {
            "kind": kind,
            "messageId": message_id,
            "writeKey": write_key,
            "ids": json.loads(ids),
            "reason": reason,
            "otherProfileId": other,
            "receivedAt": at,
        }
        for kind, message_id, write_key, ids, reason, other, at, _ in rows
    ]
