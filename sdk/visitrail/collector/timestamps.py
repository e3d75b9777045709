"""Timestamp parsing, formatting and clock-skew correction (Segment spec, common fields, "Timestamps").

Every stored timestamp is an ISO-8601 UTC string with milliseconds, e.g. `2026-11-25T01:54:26.808Z`,
so they sort as text and read the same as what browsers send.
"""

from __future__ import annotations

import datetime

__all__ = ["parse_timestamp", "format_timestamp", "corrected_timestamp"]

UTC = datetime.UTC


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
