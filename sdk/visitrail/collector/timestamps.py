"""Timestamp parsing, formatting and clock-skew correction (Segment spec, common fields, "Timestamps").

Every stored timestamp is an ISO-8601 UTC string with milliseconds, e.g. `2026-11-25T01:54:26.808Z`,
so they sort as text and read the same as what browsers send.
"""

from __future__ import annotations

import datetime

__all__ = [
    "FUTURE_TOLERANCE", "PAST_WINDOW", "parse_timestamp", "format_timestamp", "corrected_timestamp", "bounded",
]  # fmt: skip

UTC = datetime.UTC
# What a client may claim, around the collector's clock. A time later than receipt is a wrong clock
# (skew correction leaves a few seconds at most), and a far-future one would pin its traits and its
# profile's lastSeen for good; Segment and PostHog clamp the same way. The past window admits
# queues kept offline and server-side backfills, and stops year-1 dates from ruling firstSeen.
FUTURE_TOLERANCE = datetime.timedelta(hours=1)
PAST_WINDOW = datetime.timedelta(days=730)


def parse_timestamp(value: object) -> datetime.datetime | None:
    """An aware UTC datetime from an ISO-8601 string (`Z` or an offset; ms or µs), or None if it isn't one.

    A string without an offset is read as UTC.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 has no UTC year
        return None


def format_timestamp(value: datetime.datetime) -> str:
    # isoformat, unlike strftime("%Y"), zero-pads years before 1000 on every platform.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def corrected_timestamp(
    received_at: datetime.datetime,
    timestamp: datetime.datetime | None,
    original_timestamp: datetime.datetime | None,
    sent_at: datetime.datetime | None,
) -> datetime.datetime:
    """When the event happened, by the server's clock.

    With both device times known, the device's clock offset cancels out:
    `receivedAt - (sentAt - originalTimestamp)`. Otherwise trust the client's `timestamp`, else now.
    Raises OverflowError if the times are absurdly far apart.
    """
    if original_timestamp is not None and sent_at is not None:
        return received_at - (sent_at - original_timestamp)
    return timestamp if timestamp is not None else received_at


def bounded(received_at: datetime.datetime, moment: datetime.datetime) -> datetime.datetime:
    """`moment`, or `received_at` when it is later than receipt plus FUTURE_TOLERANCE or earlier
    than receipt minus PAST_WINDOW: the client's claim can't be believed, the arrival can."""
    if received_at - PAST_WINDOW <= moment <= received_at + FUTURE_TOLERANCE:
        return moment
    return received_at
