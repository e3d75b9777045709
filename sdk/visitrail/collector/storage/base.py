"""The storage interface, one plain class in the manner of encode/databases' `interfaces.py`.

A backend stores normalised events, resolves them into profiles (`profiles.py`) in the same
transaction (each event written once, with its profile), and reads both back. Methods are async so
callers never block the event loop; both backends run blocking drivers (sqlite3, psycopg's sync
connections) in worker threads, which lets them share one implementation of the SQL (`sql.py`).

Profiles are returned as JSON-ready dicts, the read API's shape:
    {"profileId", "userIds", "anonymousIds", "traits", "eventCount", "firstSeen", "lastSeen", "verified"}
plus, from `profile()`, the first visit's traits (reads.first_touch) and "sessions" (reads.session_json),
the last active first. The overview's figures (`stats`) come from the sessions table: stats.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from ..profiles import Limits

__all__ = ["Added", "Event", "Storage"]


@dataclasses.dataclass(frozen=True)
class Event:
    """One row of the `events` table. `body` is the full normalised message as JSON text."""

    write_key: str
    message_id: str
    type: str
    anonymous_id: str | None
    user_id: str | None
    event: str | None  # track's `event`, or page/screen `name`: the name people filter on
    timestamp: str  # all timestamps: ISO-8601 UTC with milliseconds, e.g. 2026-11-25T01:54:26.808Z
    original_timestamp: str | None
    sent_at: str | None
    received_at: str
    body: str
    session_id: str | None = None  # context.sessionId, see profiles.session_id_of
    verified: bool = False  # its identity token proved its userId (trust.py); column only
    previous_verified: bool = False  # an alias's previousIdentityToken proved its previousId; column only
    ip: str | None = None  # the client's truncated address (client_ip.py); column only, never in `body`
    bot: bool = False  # judged a bot's at arrival (bots.py); column only


@dataclasses.dataclass(frozen=True)
class Added:
    """What `Storage.add` did: rows inserted, and the events it refused, by their position in the
    call, with the reason (an ID erased lately; an alias rule 7 of profiles.py refuses)."""

    inserted: int
    refused: dict[int, str] = dataclasses.field(default_factory=dict)


class Storage:
    write_slots = 1  # write transactions worth running at once (group.py)

    def __init__(self, url: str) -> None:
        self.url = url
        self.limits = Limits()  # profiles.py rule 8; the collector sets its configured ones

    async def connect(self) -> None:
        raise NotImplementedError()  # pragma: no cover

    async def disconnect(self) -> None:
        raise NotImplementedError()  # pragma: no cover

    async def add(self, events: typing.Sequence[Event]) -> Added:
        """Store `events` in one transaction, all or nothing, but for the events it refuses.

        An event whose (write_key, message_id) is already stored, earlier or in the same call,
        is skipped. An event naming an ID erased within `ERASED_IDS_KEPT` (erasure.py) of its
        receivedAt, and an alias that profiles.py's rule 7 refuses, are neither stored nor applied.
        The inserted events are resolved into profiles in the same transaction.
        """
        raise NotImplementedError()  # pragma: no cover

    async def add_groups(self, groups: typing.Sequence[typing.Sequence[Event]]) -> list[Added]:
        """`add` for several requests' events in one transaction (a group commit: group.py), each
        group's result as `add` would give it. Groups are applied in order; all or nothing."""
        raise NotImplementedError()  # pragma: no cover

    async def expire(self, before: str) -> int:
        """Retention: delete the events received before the day `before` (YYYY-MM-DD), in bounded
        steps (PostgreSQL: whole partitions). Profiles keep their counts. Returns a backend's count
        of what it removed (partitions or rows)."""
        raise NotImplementedError()  # pragma: no cover

    async def profile_log(self, profile_id: str, *, limit: int = 100) -> list[dict[str, typing.Any]]:
        """A profile's merge log, newest first: {"kind": "merged" | "refused", "messageId", "writeKey",
        "ids": [{"kind", "value"}], "reason", "otherProfileId", "receivedAt"}, for it and the
        profiles merged into it."""
        raise NotImplementedError()  # pragma: no cover

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
        """Stored message bodies matching every given filter, in insertion order (oldest first)."""
        raise NotImplementedError()  # pragma: no cover

    async def find_profile(self, *, user_id: str | None = None, anonymous_id: str | None = None) -> str | None:
        """The profileId owning this userId (or anonymousId), if it has been seen."""
        raise NotImplementedError()  # pragma: no cover

    async def profile(self, profile_id: str) -> dict[str, typing.Any] | None:
        """A profile with its sessions, or None if there is no such profile (any more: merged)."""
        raise NotImplementedError()  # pragma: no cover

    async def profile_of(
        self, *, user_id: str | None = None, anonymous_id: str | None = None
    ) -> dict[str, typing.Any] | None:
        """The profile owning this userId (or anonymousId), read as `profile` does, in one snapshot."""
        raise NotImplementedError()  # pragma: no cover

    async def search_profiles(self, query: str = "", limit: int = 50) -> list[dict[str, typing.Any]]:
        """Profiles with an ID or trait value containing `query` (case-insensitive), last seen first.
        An empty query lists the profiles seen last."""
        raise NotImplementedError()  # pragma: no cover

    async def profile_events(
        self, profile_id: str, *, limit: int = 100, offset: int = 0, now: datetime.datetime | None = None
    ) -> list[dict[str, typing.Any]]:
        """A profile's stored message bodies, newest first by (skew-corrected) timestamp, with each
        session's derived Session Started and, once idle past the SDK's default timeout at `now`,
        Session Ended (reads.timeline)."""
        raise NotImplementedError()  # pragma: no cover

    async def sessions(
        self,
        *,
        profile_id: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 100,
        offset: int = 0,
        bots: bool = False,
    ) -> list[dict[str, typing.Any]]:
        """Sessions in the read API's shape (reads.session_json): a profile's (bots' too), the last
        active first; else those that started in [start, end), the latest first, bots' only if `bots`.
        `limit` of them, after the first `offset`."""
        raise NotImplementedError()  # pragma: no cover

    async def stats(self, range: str, now: datetime.datetime, bots: bool = False) -> dict[str, typing.Any]:
        """The overview's figures for `range` ("today", "7d", "30d": stats.RANGES) at `now` (aware
        UTC), with the previous range's for comparison, in GET /api/stats's shape (stats_api.py);
        bots' sessions left out of every figure unless `bots`. ValueError for another range."""
        raise NotImplementedError()  # pragma: no cover

    async def erase_profile(
        self,
        *,
        profile_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        now: datetime.datetime | None = None,
    ) -> dict[str, typing.Any] | None:
        """Delete a profile (named by one of its IDs) with all its identities, traits and events, in one
        transaction, keeping a tombstone of each of its IDs (erasure.py); then make the deletion
        physical where the database allows. Returns {"profileId", "events", "identities"} (rows
        deleted), or None if no such profile exists. `now` (aware UTC) defaults to the clock's."""
        raise NotImplementedError()  # pragma: no cover

    async def add_login(self, digest: str, token_mac: str, expires: str, now: str) -> None:
        """Keep a dashboard login (logins.py), forgetting those expired by `now`."""
        raise NotImplementedError()  # pragma: no cover

    async def find_login(self, digest: str) -> tuple[str, str] | None:
        """(token_mac, expires) of a login, if it is kept."""
        raise NotImplementedError()  # pragma: no cover

    async def remove_login(self, digest: str) -> None:
        raise NotImplementedError()  # pragma: no cover

    async def rebuild_profiles(self) -> int:
        """Recompute everything derived from the events table (session ids, identities, profiles,
        traits) by replaying every event in arrival order. Returns the number of profiles."""
        raise NotImplementedError()  # pragma: no cover
