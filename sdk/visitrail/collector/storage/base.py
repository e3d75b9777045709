"""The storage interface, one plain class in the manner of encode/databases' `interfaces.py`.

A backend stores normalised events and reads them back. Methods are async so a backend with an
async driver (psycopg 3's `AsyncConnection` for PostgreSQL) fits without changing callers;
a blocking backend runs its calls in a thread.
"""

from __future__ import annotations

import dataclasses
import typing

__all__ = ["Event", "Storage"]


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


class Storage:
    def __init__(self, url: str) -> None:
        self.url = url

    async def connect(self) -> None:
        raise NotImplementedError()  # pragma: no cover

    async def disconnect(self) -> None:
        raise NotImplementedError()  # pragma: no cover

    async def add(self, events: typing.Sequence[Event]) -> int:
        """Store `events` in one transaction, all or nothing.

        An event whose (write_key, message_id) is already stored, earlier or in the same call,
        is skipped. Returns how many rows were inserted.
        """
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
