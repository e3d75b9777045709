"""Timestamp parsing, formatting and the skew-correction rule."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visitrail.collector.timestamps import corrected_timestamp, format_timestamp, parse_timestamp

UTC = datetime.UTC
# Keep clear of year 1 and 9999 so adding a day of skew can't overflow.
moments = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2100, 1, 1), timezones=st.just(UTC)
)
skews = st.timedeltas(min_value=datetime.timedelta(days=-1), max_value=datetime.timedelta(days=1))
delays = st.timedeltas(min_value=datetime.timedelta(0), max_value=datetime.timedelta(hours=1))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-25T01:54:26.808Z", "2026-11-25T01:54:26.808Z"),
        ("2026-11-25T01:54:26.808399+00:00", "2026-11-25T01:54:26.808Z"),  # analytics-python
        ("2026-11-25T03:54:26.8+02:00", "2026-11-25T01:54:26.800Z"),
        ("2026-11-24T20:54:26-05:00", "2026-11-25T01:54:26.000Z"),
        ("2026-11-25T01:54:26", "2026-11-25T01:54:26.000Z"),  # no offset: UTC
        ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000Z"),
    ],
)
def test_parse_and_format(text: str, expected: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed is not None
    assert format_timestamp(parsed) == expected


@pytest.mark.parametrize(
    "value", [None, "", "yesterday", 1764035666808, "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00"]
)
def test_not_a_timestamp(value: object) -> None:
    assert parse_timestamp(value) is None


@given(received=moments, skew=skews, delay=delays)
def test_skew_cancels_out(received: datetime.datetime, skew: datetime.timedelta, delay: datetime.timedelta) -> None:
    # The event happened `delay` before the request arrived; the device clock is off by `skew`.
    happened = received - delay
    original, sent = happened + skew, received + skew
    assert corrected_timestamp(received, original, original, sent) == happened


@given(received=moments, original=moments, sent=moments)
def test_formula(received: datetime.datetime, original: datetime.datetime, sent: datetime.datetime) -> None:
    assert corrected_timestamp(received, None, original, sent) == received - (sent - original)


@given(received=moments, timestamp=st.none() | moments)
def test_without_sent_at_the_timestamp_or_now(received: datetime.datetime, timestamp: datetime.datetime | None) -> None:
    assert corrected_timestamp(received, timestamp, timestamp, None) == (timestamp or received)


@given(moment=moments)
def test_format_parse_round_trip_to_the_millisecond(moment: datetime.datetime) -> None:
    text = format_timestamp(moment)
    assert len(text) == len("2026-11-25T01:54:26.808Z") and text.endswith("Z")
    assert parse_timestamp(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
