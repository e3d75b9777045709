"""The overview's figures (GET /api/stats and the dashboard's overview page), read from the
sessions table (sessions.py) with the same SQL on both backends.

A range is a whole number of UTC days ending today, cut at `now`: "today" (midnight to now), "7d"
and "30d" (the last 7 or 30 days, today included). Its previous range is the same length just
before it, day for day: the same days shifted back by the range's length, up to the same time of
day, so a half-gone today is compared with the first half of yesterday, not with all of it.

Each figure counts the sessions that *started* in the range (first_seen), so every query is
bounded by the sessions_first_seen index:
- visitors: distinct living profiles among them (a merged-away profileId counts as its survivor:
  `merged`, as reads.SESSION_SELECT forwards it), so one person on two devices counts once;
- sessions: how many;
- identified users: distinct living profiles among the sessions with an identified event;
- bounce rate: the share of sessions that bounced (reads.BOUNCE_ENGAGED_MS: one page view and
  less engaged time than that), as a percentage;
- page views: their page views added up;
- median engaged time: the middle session's engagedMs (the upper middle of an even count: a value
  some session really had), found by ORDER BY ... LIMIT 1 OFFSET count / 2, not by reading them all;
- top entry pages (the entry URL without its query and fragment: the campaign's parameters would
  split one page into many), top referrers (by referring domain) and top campaign sources, each
  with its count of sessions, at most TOP of each.
Bots' sessions are left out of every figure unless `bots`; how many there were in the range is
given either way.

The referring domain is one rule with two forms, `referring_domain` (Python: the profile page's
sessions) and `referring_domain_sql` (the top referrers), built from the same steps; the tests hold
them to the same answers on both backends.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from ..timestamps import format_timestamp
from .db import Transaction
from .reads import BOUNCE_ENGAGED_MS

__all__ = [
    "RANGES",
    "DEFAULT_RANGE",
    "TOP",
    "Dialect",
    "SQLITE",
    "POSTGRES",
    "Window",
    "window",
    "stats",
    "referring_domain",
    "referring_domain_sql",
    "entry_page",
    "entry_page_sql",
    "Fragment",
    "session_source",
    "DIRECT",
]

RANGES = {"today": 1, "7d": 7, "30d": 30}  # a range's name: its length in UTC days, today included
DEFAULT_RANGE = "7d"
TOP = 10  # rows of each top list
DIRECT = "direct"  # a session's source when it had neither a campaign source nor a referrer


@dataclasses.dataclass(frozen=True)
class Dialect:
    """What the two backends spell differently; the rest of the SQL is shared."""

    position: str  # the 1-based position of a substring, 0 when it is absent
    json_text: str  # a JSON object's text field, from a TEXT column: .format(column=, key=)


SQLITE = Dialect(position="instr", json_text="json_extract({column}, '$.{key}')")
POSTGRES = Dialect(position="strpos", json_text="(CAST({column} AS json) ->> '{key}')")


# The referring domain, in steps each form follows: the part after "://" (the whole when there is
# none), each of these marks read as the end of the host, the text up to the first end; none: NULL.
# No lower-casing: a browser's referrer already has its host in lower case, and SQLite's LOWER and
# PostgreSQL's disagree beyond ASCII.
SCHEME_END = "://"
HOST_ENDS = ("?", "#", ":")  # then "/": the path, the query, the fragment, the port
PAGE_ENDS = ("#",)  # then "?": an entry page is its URL up to the query or the fragment


def referring_domain(url: str | None) -> str | None:
    """The referrer's host (see HOST_ENDS), or None."""
    if not url:
        return None
    found = url.find(SCHEME_END)
    rest = url[found + len(SCHEME_END) :] if found >= 0 else url
    for mark in HOST_ENDS:
        rest = rest.replace(mark, "/")
    return rest.split("/", 1)[0] or None


def entry_page(url: str | None) -> str | None:
    """The entry URL without its query and fragment, or None."""
    if not url:
        return None
    for mark in PAGE_ENDS:
        url = url.replace(mark, "?")
    return url.split("?", 1)[0] or None


# SQL with its parameters: the marks are parameters, since a "?" in the SQL's text is a placeholder
# (db.py swaps them for psycopg's).
Fragment = tuple[str, tuple[str, ...]]


def _before(expression: Fragment, mark: str, dialect: Dialect) -> Fragment:
    """SQL: `expression` up to the first `mark` (all of it when there is none)."""
    sql, params = expression
    return f"SUBSTR({sql}, 1, {dialect.position}({sql} || ?, ?) - 1)", (*params, *params, mark, mark)


def _replaced(expression: Fragment, marks: typing.Iterable[str], by: str) -> Fragment:
    for mark in marks:
        sql, params = expression
        expression = f"REPLACE({sql}, ?, ?)", (*params, mark, by)
    return expression


def referring_domain_sql(column: str, dialect: Dialect) -> Fragment:
    """SQL: referring_domain(column)."""
    found = f"{dialect.position}({column}, ?)"
    rest = f"CASE WHEN {found} > 0 THEN SUBSTR({column}, {found} + {len(SCHEME_END)}) ELSE {column} END"
    sql, params = _before(_replaced((rest, (SCHEME_END, SCHEME_END)), HOST_ENDS, "/"), "/", dialect)
    return f"NULLIF({sql}, '')", params


def entry_page_sql(column: str, dialect: Dialect) -> Fragment:
    """SQL: entry_page(column)."""
    sql, params = _before(_replaced((column, ()), PAGE_ENDS, "?"), "?", dialect)
    return f"NULLIF({sql}, '')", params


def session_source(session: typing.Mapping[str, typing.Any]) -> str:
    """Where a session (reads.session_json's) came from: its campaign's source, else its referring
    domain, else DIRECT."""
    return session["campaign"].get("source") or referring_domain(session["referrer"]) or DIRECT


@dataclasses.dataclass(frozen=True)
class Window:
    """A range and its previous range, as half-open [start, end) ISO-8601 timestamps."""

    name: str
    days: tuple[str, ...]  # YYYY-MM-DD, oldest first
    start: str
    end: str
    previous_start: str
    previous_end: str


MS = datetime.timedelta(milliseconds=1)


def window(name: str, now: datetime.datetime) -> Window:
    """The range called `name` (RANGES) at `now` (aware), and the one before it. ValueError for
    another name."""
    if name not in RANGES:
        raise ValueError(f"range must be one of {', '.join(RANGES)}")
    length = RANGES[name]
    now = now.astimezone(datetime.UTC)
    today = datetime.datetime(now.year, now.month, now.day, tzinfo=datetime.UTC)
    first = today - datetime.timedelta(days=length - 1)
    # Timestamps are stored to the millisecond: `now`'s own millisecond is in the range.
    end = now.replace(microsecond=now.microsecond // 1000 * 1000) + MS
    shift = datetime.timedelta(days=length)
    return Window(
        name=name,
        days=tuple((first + datetime.timedelta(days=n)).date().isoformat() for n in range(length)),
        start=format_timestamp(first),
        end=format_timestamp(end),
        previous_start=format_timestamp(first - shift),
        previous_end=format_timestamp(end - shift),
    )


# The sessions of a range. A merged-away profileId is counted as its survivor (reads.SESSION_SELECT).
PROFILE = "COALESCE(merged.survivor, sessions.profile_id)"
SESSIONS = "FROM sessions LEFT JOIN merged ON merged.loser = sessions.profile_id"
IN_RANGE = "sessions.first_seen >= ? AND sessions.first_seen < ?"
HUMAN = " AND NOT sessions.bot"
BOUNCE = f"sessions.page_views = 1 AND sessions.engaged_ms < {int(BOUNCE_ENGAGED_MS)}"
FIGURES = f"""COUNT(DISTINCT {PROFILE}), COUNT(*), COUNT(DISTINCT CASE WHEN sessions.identified THEN {PROFILE} END),
    COALESCE(SUM(CASE WHEN {BOUNCE} THEN 1 ELSE 0 END), 0), COALESCE(SUM(sessions.page_views), 0)"""
FIGURE_NAMES = ("visitors", "sessions", "identifiedUsers", "bounces", "pageViews")
DAY = "SUBSTR(sessions.first_seen, 1, 10)"  # fixed-width ISO text: its date


def _figures(row: typing.Sequence[typing.Any]) -> dict[str, typing.Any]:
    counts = dict(zip(FIGURE_NAMES, (int(value) for value in row), strict=True))  # PostgreSQL's SUM: a Decimal
    return {**counts, "bounceRate": _percent(counts["bounces"], counts["sessions"])}


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _change(value: float | None, previous: float | None) -> float | None:
    """Percent change against the previous range; None when the previous was 0 or had none."""
    if value is None or not previous:
        return None
    return round(100 * (value - previous) / previous, 1)


def _total(value: float | None, previous: float | None, points: bool = False) -> dict[str, typing.Any]:
    if points:  # a rate's change: in percentage points, as Plausible shows a bounce rate's
        change = None if value is None or previous is None else round(value - previous, 1)
    else:
        change = _change(value, previous)
    return {"value": value, "previous": previous, "change": change}


def _top(db: Transaction, key: Fragment, where: str, params: typing.Sequence[typing.Any]) -> list[tuple[str, int]]:
    rows = db.all(
        f"SELECT k, COUNT(*) FROM (SELECT {key[0]} AS k FROM sessions WHERE {where}) AS ranged "
        "WHERE k IS NOT NULL AND k <> '' GROUP BY k ORDER BY COUNT(*) DESC, k LIMIT ?",
        [*key[1], *params, TOP],
    )
    return [(str(k), int(n)) for k, n in rows]


def _median(db: Transaction, where: str, params: typing.Sequence[typing.Any], count: int) -> int | None:
    if not count:
        return None
    rows = db.all(
        f"SELECT sessions.engaged_ms FROM sessions WHERE {where} ORDER BY sessions.engaged_ms LIMIT 1 OFFSET ?",
        [*params, count // 2],
    )
    return int(rows[0][0]) if rows else None


def stats(db: Transaction, dialect: Dialect, name: str, now: datetime.datetime, bots: bool) -> dict[str, typing.Any]:
    """The figures of range `name` at `now`, in GET /api/stats's shape (stats_api.py); bots'
    sessions counted only when `bots`."""
    w = window(name, now)
    kept = "" if bots else HUMAN
    where, params = IN_RANGE + kept, (w.start, w.end)
    before = (w.previous_start, w.previous_end)
    current = _figures(db.all(f"SELECT {FIGURES} {SESSIONS} WHERE {where}", params)[0])
    previous = _figures(db.all(f"SELECT {FIGURES} {SESSIONS} WHERE {where}", before)[0])
    by_day = {
        row[0]: _figures(row[1:])
        for row in db.all(f"SELECT {DAY}, {FIGURES} {SESSIONS} WHERE {where} GROUP BY {DAY}", params)
    }
    empty = _figures((0,) * len(FIGURE_NAMES))
    [(bot_sessions,)] = db.all(f"SELECT COUNT(*) FROM sessions WHERE {IN_RANGE} AND sessions.bot", params)
    median = _median(db, where, params, current["sessions"])
    previous_median = _median(db, where, before, previous["sessions"])
    totals = {key: _total(current[key], previous[key]) for key in ("visitors", "sessions", "identifiedUsers")}
    totals["bounceRate"] = _total(current["bounceRate"], previous["bounceRate"], points=True)
    totals["pageViews"] = _total(current["pageViews"], previous["pageViews"])
    totals["medianEngagedMs"] = _total(median, previous_median)
    tops = {
        "topEntryPages": ("url", entry_page_sql("sessions.entry_url", dialect)),
        "topReferrers": ("domain", referring_domain_sql("sessions.referrer", dialect)),
        "topSources": ("source", (dialect.json_text.format(column="sessions.campaign", key="source"), ())),
    }
    return {
        "range": w.name,
        "from": w.start,
        "to": w.end,
        "previous": {"from": w.previous_start, "to": w.previous_end},
        "bots": "include" if bots else "exclude",
        "botSessions": int(bot_sessions),
        "totals": totals,
        "days": [{"date": day, **by_day.get(day, empty)} for day in w.days],
        **{
            list_name: [{label: k, "sessions": n} for k, n in _top(db, key, where, params)]
            for list_name, (label, key) in tops.items()
        },
    }
