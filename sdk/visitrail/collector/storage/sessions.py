"""Sessions as a table, derived from the events: what a visit was, kept up to date in the
transaction that stores its events, and rebuilt from them by `rebuild` (resolution.py).

    sessions(write_key, session_id, profile_id, first_seen, last_seen, event_count, page_views,
             entry_key, entry_url, referrer, campaign, click_ids, exit_key, exit_url, engaged_ms,
             identified, bot)

The session's entry (URL, referrer, campaign and click IDs) is its earliest event's and its exit
its latest event's page, by (timestamp, messageId): `entry_key` and `exit_key` are that pair as
one string (timestamps are fixed-width ISO text), so events arriving in any order, in any number
of batches, give the same row. The SDK puts the session's entry (context.sessionEntry) and campaign
on every event of the session (core/events.py), so the entry is right even when the landing page's
own events are lost. `engaged_ms` adds up the session's Page Left events (core/engagement.py).
`bot`: one of its events was judged a bot's (bots.py). `profile_id` is its earliest event's
profile, forwarded by `merged` as events are (reads.py).

Each statement is an upsert of one row per session of the batch, its columns combined with the
row already stored in SQL (no read first), so concurrent batches of one session (two tabs, two
collector processes) both count.
"""

from __future__ import annotations

import dataclasses
import json
import typing

from visitrail.core.attribution import CLICK_IDS, MAX_URL_CHARS, MAX_VALUE_CHARS, UTM
from visitrail.core.engagement import PAGE_LEFT

from .base import Event
from .db import Transaction

__all__ = ["SessionRow", "record_sessions", "MAX_ENGAGED_MS", "CAMPAIGN_FIELDS"]

CAMPAIGN_FIELDS = tuple(name for _, name in UTM)
# One Page Left, and one session's sum of them, count for at most a day (the session's own maximum
# length): a client's claim of years of engagement must not outweigh every honest session in a sum
# or a median, one Page Left at a time or 2,500 in a batch.
MAX_ENGAGED_MS = 24 * 3600 * 1000

COLUMNS = (
    "write_key, session_id, profile_id, first_seen, last_seen, event_count, page_views, entry_key, entry_url, "
    "referrer, campaign, click_ids, exit_key, exit_url, engaged_ms, identified, bot"
)


def _earlier(column: str) -> str:
    return f"CASE WHEN excluded.entry_key < sessions.entry_key THEN excluded.{column} ELSE sessions.{column} END"


def _later(column: str) -> str:
    return f"CASE WHEN excluded.exit_key > sessions.exit_key THEN excluded.{column} ELSE sessions.{column} END"


UPSERT_SESSION = f"""
INSERT INTO sessions ({COLUMNS}) VALUES ({", ".join("?" * 17)})
ON CONFLICT (write_key, session_id) DO UPDATE SET
    profile_id = {_earlier("profile_id")},
    first_seen = CASE WHEN excluded.first_seen < sessions.first_seen
        THEN excluded.first_seen ELSE sessions.first_seen END,
    last_seen = CASE WHEN excluded.last_seen > sessions.last_seen
        THEN excluded.last_seen ELSE sessions.last_seen END,
    event_count = sessions.event_count + excluded.event_count,
    page_views = sessions.page_views + excluded.page_views,
    entry_url = {_earlier("entry_url")},
    referrer = {_earlier("referrer")},
    campaign = {_earlier("campaign")},
    click_ids = {_earlier("click_ids")},
    entry_key = {_earlier("entry_key")},
    exit_url = {_later("exit_url")},
    exit_key = {_later("exit_key")},
    engaged_ms = CASE WHEN sessions.engaged_ms + excluded.engaged_ms > {MAX_ENGAGED_MS}
        THEN {MAX_ENGAGED_MS} ELSE sessions.engaged_ms + excluded.engaged_ms END,
    identified = CASE WHEN excluded.identified THEN excluded.identified ELSE sessions.identified END,
    bot = CASE WHEN excluded.bot THEN excluded.bot ELSE sessions.bot END
"""


def _text(value: typing.Any) -> str | None:
    return value[:MAX_URL_CHARS] if isinstance(value, str) and value else None


def _dict(value: typing.Any) -> dict[str, typing.Any]:
    return value if isinstance(value, dict) else {}


def engaged_ms_of(message: dict[str, typing.Any]) -> int:
    """A Page Left's engagedMs, as a count of milliseconds within [0, MAX_ENGAGED_MS]; 0 otherwise."""
    if message.get("type") != "track" or message.get("event") != PAGE_LEFT:
        return 0
    value = _dict(message.get("properties")).get("engagedMs")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        return 0
    return int(min(max(value, 0), MAX_ENGAGED_MS))


@dataclasses.dataclass
class SessionRow:
    """One session's part of a batch, combined with the stored row by UPSERT_SESSION."""

    write_key: str
    session_id: str
    profile_id: str | None
    first_seen: str
    last_seen: str
    event_count: int
    page_views: int
    entry_key: str
    entry_url: str | None
    referrer: str | None
    campaign: str  # JSON: Segment's five campaign fields that the entry had
    click_ids: str  # JSON: the entry's click IDs, under their own names
    exit_key: str
    exit_url: str | None
    engaged_ms: int
    identified: bool  # one of its events had a userId
    bot: bool

    @classmethod
    def of(cls, event: Event, profile_id: str | None) -> SessionRow:
        message = json.loads(event.body)
        context = _dict(message.get("context"))
        page = _dict(context.get("page"))
        entry = _dict(context.get("sessionEntry"))
        campaign = _dict(context.get("campaign"))
        key = event.timestamp + " " + event.message_id
        return cls(
            write_key=event.write_key,
            session_id=typing.cast(str, event.session_id),
            profile_id=profile_id,
            first_seen=event.timestamp,
            last_seen=event.timestamp,
            event_count=1,
            page_views=1 if event.type == "page" else 0,
            entry_key=key,
            entry_url=_text(entry.get("url")) or _text(page.get("url")),
            referrer=_text(entry.get("referrer") if "url" in entry else page.get("referrer")),
            campaign=_fields(campaign, CAMPAIGN_FIELDS),
            click_ids=_fields(campaign, CLICK_IDS),
            exit_key=key,
            exit_url=_text(page.get("url")),
            engaged_ms=engaged_ms_of(message),
            identified=event.user_id is not None,
            bot=event.bot,
        )

    def add(self, other: SessionRow) -> None:
        """Fold a later-listed event of the same session into this row, as UPSERT_SESSION does."""
        if other.entry_key < self.entry_key:
            self.profile_id, self.entry_key, self.entry_url = other.profile_id, other.entry_key, other.entry_url
            self.referrer, self.campaign, self.click_ids = other.referrer, other.campaign, other.click_ids
        if other.exit_key > self.exit_key:
            self.exit_key, self.exit_url = other.exit_key, other.exit_url
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.event_count += other.event_count
        self.page_views += other.page_views
        self.engaged_ms = min(self.engaged_ms + other.engaged_ms, MAX_ENGAGED_MS)
        self.identified = self.identified or other.identified
        self.bot = self.bot or other.bot

    def row(self) -> tuple[typing.Any, ...]:
        return tuple(getattr(self, field.name) for field in dataclasses.fields(self))


def _fields(campaign: dict[str, typing.Any], names: typing.Iterable[str]) -> str:
    kept = {name: campaign[name][:MAX_VALUE_CHARS] for name in names if isinstance(campaign.get(name), str)}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def record_sessions(db: Transaction, stored: typing.Iterable[tuple[Event, str | None]]) -> None:
    """Fold the stored events (each with its profileId) into their sessions' rows."""
    rows: dict[tuple[str, str], SessionRow] = {}
    for event, profile_id in stored:
        if not event.session_id:
            continue
        row = SessionRow.of(event, profile_id)
        held = rows.get((row.write_key, row.session_id))
        if held is None:
            rows[(row.write_key, row.session_id)] = row
        else:
            held.add(row)
    # In key order: two batches upserting the same sessions lock their rows in the same order.
    db.run_many(UPSERT_SESSION, [rows[key].row() for key in sorted(rows)])


REBUILD_CHUNK = 1000
STORED = (
    "write_key", "message_id", "type", "anonymous_id", "user_id", "event", "timestamp", "original_timestamp",
    "sent_at", "received_at", "body", "session_id", "bot",
)  # fmt: skip


def rebuild_sessions(db: Transaction) -> None:
    """The sessions table anew from the stored events and their profileIds."""
    db.run("DELETE FROM sessions")
    last = 0
    while True:
        rows = db.all(
            f"SELECT id, profile_id, {', '.join(STORED)} FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (last, REBUILD_CHUNK),
        )
        if not rows:
            return
        events = [Event(**dict(zip(STORED, row[2:], strict=True))) for row in rows]
        record_sessions(db, [(event, row[1]) for event, row in zip(events, rows, strict=True)])
        last = rows[-1][0]


def expire_sessions(db: Transaction, before: str, limit: int) -> int:
    """Retention: delete up to `limit` sessions whose last event is older than the day `before`
    (their events go with it, received before that day). Returns how many were deleted."""
    return db.run(
        "DELETE FROM sessions WHERE (write_key, session_id) IN "
        "(SELECT write_key, session_id FROM sessions WHERE last_seen < ? LIMIT ?)",
        (before, limit),
    )
