"""The read model: profiles, their sessions, their timelines (with the derived Session Started and
Session Ended) and their search, in the read API's JSON shape (see storage/base.py)."""

from __future__ import annotations

import json
import typing

from ..timestamps import parse_timestamp
from .db import Transaction
from .resolution import load_profiles_by_id
from .sessions import CAMPAIGN_FIELDS

__all__ = [
    "summaries",
    "sessions_of",
    "list_sessions",
    "timeline",
    "first_touch",
    "search",
    "profile_log",
    "owned",
    "MAX_SESSIONS",
    "OWNED",
    "BOUNCE_ENGAGED_MS",
]

MAX_SESSIONS = 1000  # sessions listed per profile, newest first
# The rows (events, log entries) of a living profile: its own and those of the profiles merged into
# it (resolution.py's `merged`); none for a profile merged away. Parameters: the profileId twice.
OWNED = "profile_id IN (SELECT id FROM profiles WHERE id = ? UNION ALL SELECT loser FROM merged WHERE survivor = ?)"
OWNED_LISTED = 10_000  # profileIds put in the statement itself; more (no identity limits): OWNED


def owned(db: Transaction, profile_id: str, column: str = "profile_id") -> tuple[str, list[typing.Any]]:
    """A WHERE clause and its parameters for the rows of `profile_id` (OWNED). The profileIds are
    listed in the statement when they are few (and the limits keep them so: each merge brought at
    least one ID), which lets both planners probe the (profile_id, timestamp) index once per
    profileId, rather than guess how many rows a subquery returns."""
    if not db.all("SELECT 1 FROM profiles WHERE id = ?", (profile_id,)):
        return "1 = 0", []
    ids = [profile_id] + [loser for (loser,) in db.all("SELECT loser FROM merged WHERE survivor = ?", (profile_id,))]
    if len(ids) > OWNED_LISTED:
        return OWNED.replace("profile_id", column, 1), [profile_id, profile_id]
    return f"{column} IN ({', '.join('?' * len(ids))})", ids


# A bounce: one page view, and less engaged time than this (Plausible's and GA4's idea of a visit
# that did not engage).
BOUNCE_ENGAGED_MS = 10_000
# A session's row in the read API's shape; its profileId is the living profile it was merged into.
SESSION_SELECT = """
SELECT session_id, COALESCE(merged.survivor, sessions.profile_id), first_seen, last_seen, event_count, page_views,
       entry_url, exit_url, referrer, campaign, click_ids, engaged_ms, bot
FROM sessions LEFT JOIN merged ON merged.loser = sessions.profile_id
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


def _milliseconds(first: str, last: str) -> int:
    start, end = parse_timestamp(first), parse_timestamp(last)
    return 0 if start is None or end is None else int((end - start).total_seconds() * 1000)


def session_json(row: typing.Sequence[typing.Any]) -> dict[str, typing.Any]:
    sid, pid, first, last, count, views, entry, exit_url, referrer, campaign, click_ids, engaged, bot = row
    held = json.loads(campaign)
    return {
        "sessionId": sid,
        "profileId": pid,
        "firstSeen": first,
        "lastSeen": last,
        "durationMs": _milliseconds(first, last),
        "eventCount": int(count),
        "pageViews": int(views),
        "entryUrl": entry,
        "exitUrl": exit_url,
        "referrer": referrer,
        "campaign": {name: held.get(name) for name in CAMPAIGN_FIELDS},
        "clickIds": json.loads(click_ids),
        "engagedMs": int(engaged),
        "bounce": int(views) == 1 and int(engaged) < BOUNCE_ENGAGED_MS,
        "bot": bool(bot),
    }


def sessions_of(
    db: Transaction, profile_id: str, limit: int = MAX_SESSIONS, offset: int = 0
) -> list[dict[str, typing.Any]]:
    """A profile's sessions (and those of the profiles merged into it), the last active first."""
    where, params = owned(db, profile_id, "sessions.profile_id")
    sql = f"{SESSION_SELECT} WHERE {where} ORDER BY last_seen DESC, session_id LIMIT ? OFFSET ?"
    return [session_json(row) for row in db.all(sql, [*params, limit, offset])]


def list_sessions(
    db: Transaction, start: str | None, end: str | None, limit: int, bots: bool, offset: int = 0
) -> list[dict[str, typing.Any]]:
    """The sessions that started in [start, end), the latest first; bots' only when `bots`."""
    clauses, params = [], []
    for clause, value in (("first_seen >= ?", start), ("first_seen < ?", end)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if not bots:
        clauses.append("NOT sessions.bot")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"{SESSION_SELECT}{where} ORDER BY first_seen DESC, session_id LIMIT ? OFFSET ?"
    return [session_json(row) for row in db.all(sql, [*params, limit, offset])]


DIRECT = "$direct"  # a first-touch trait's value when the first visit had none of it (typed in, a bookmark)
FIRST_TOUCH = """
SELECT entry_url, referrer, campaign FROM sessions WHERE {} AND entry_url IS NOT NULL
ORDER BY first_seen, entry_key LIMIT 1
"""


def first_touch(db: Transaction, profile_id: str) -> dict[str, str]:
    """The traits of a profile's first visit, from its earliest session that had a page (its own or
    a merged profile's: the earliest wins, whatever order the events arrived in): initial_referrer,
    initial_referring_domain, initial_landing_url and initial_utm_*, DIRECT for what it lacked.
    Derived when read, never stored: no later visit can replace them. {} without such a session
    (a profile known from a server's events only)."""
    where, params = owned(db, profile_id)
    rows = db.all(FIRST_TOUCH.format(where), params)
    if not rows:
        return {}
    entry, referrer, campaign = rows[0]
    held = json.loads(campaign)
    from .stats import referring_domain  # the overview's rule; stats.py imports this module

    domain = referring_domain(referrer)
    traits = {
        "initial_referrer": referrer or DIRECT,
        "initial_referring_domain": domain or DIRECT,
        "initial_landing_url": entry or DIRECT,
    }
    for parameter, name in (("campaign", "name"), *((f, f) for f in CAMPAIGN_FIELDS if f != "name")):
        traits[f"initial_utm_{parameter}"] = held.get(name) or DIRECT
    return traits


def timeline(
    db: Transaction, profile_id: str, limit: int, offset: int, ended_before: str
) -> list[dict[str, typing.Any]]:
    """A profile's events, newest first, with each session's Session Started (at its first event)
    and Session Ended (at its last, once that is before `ended_before`: idle past the timeout)
    derived from the sessions table: `type: "track"`, `derived: true`."""
    where, params = owned(db, profile_id)
    # At the same timestamp, newest first: an Ended after the session's last event, a Started
    # before its first.
    rows = db.all(
        f"""SELECT 2 AS kind, session_id AS ref, last_seen AS at, 0 AS n FROM sessions
            WHERE {where} AND last_seen < ?
            UNION ALL SELECT 1, body, timestamp, id FROM events WHERE {where}
            UNION ALL SELECT 0, session_id, first_seen, 0 FROM sessions WHERE {where}
            ORDER BY at DESC, kind DESC, n DESC, ref LIMIT ? OFFSET ?""",
        [*params, ended_before, *params, *params, limit, offset],
    )
    derived = {row[1] for row in rows if row[0] != 1}
    mine, _ = owned(db, profile_id, "sessions.profile_id")
    sessions = {
        row[0]: session_json(row)
        for row in db.all_in(f"{SESSION_SELECT} WHERE session_id IN ({{}}) AND {mine}", derived, params)
    }
    out = []
    for kind, ref, _, _ in rows:
        if kind == 1:
            out.append(json.loads(ref))
        elif ref in sessions:
            out.append(derived_event(sessions[ref], ended=kind == 2))
    return out


def derived_event(session: dict[str, typing.Any], ended: bool) -> dict[str, typing.Any]:
    """Session Started or Session Ended of a session (session_json's), as a timeline row."""
    keys: tuple[str, ...]
    if ended:
        name, at = "Session Ended", session["lastSeen"]
        keys = ("durationMs", "eventCount", "pageViews", "engagedMs", "bounce", "exitUrl")
    else:
        name, at = "Session Started", session["firstSeen"]
        keys = ("entryUrl", "referrer", "campaign", "clickIds")
    return {
        "type": "track",
        "event": name,
        "derived": True,
        "messageId": f"derived-{'ended' if ended else 'started'}-{session['sessionId']}",
        "timestamp": at,
        "profileId": session["profileId"],
        "context": {"sessionId": session["sessionId"]},
        "properties": {"sessionId": session["sessionId"], **{key: session[key] for key in keys}, "bot": session["bot"]},
    }


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
