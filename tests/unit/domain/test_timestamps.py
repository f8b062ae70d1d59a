"""Nanosecond timestamps: parsing, formatting and their bounds."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.timestamps import (
    MAX_NS,
    TimestampError,
    day_bounds,
    format_rfc3339,
    parse_date_or_datetime,
    parse_rfc3339,
    to_ns,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-01-15T10:00:00Z", 1_705_312_800_000_000_000),
        ("2024-01-15T10:00:00z", 1_705_312_800_000_000_000),  # RFC 3339 allows lower-case z
        ("2024-01-15t10:00:00Z", 1_705_312_800_000_000_000),
        ("2024-01-15T12:00:00+02:00", 1_705_312_800_000_000_000),  # offsets normalise to UTC
        ("2024-01-15T10:00:00.5Z", 1_705_312_800_500_000_000),
        ("2024-01-15T10:00:00.000000001Z", 1_705_312_800_000_000_001),  # nanoseconds survive
        ("2024-01-15 10:00:00Z", 1_705_312_800_000_000_000),
    ],
)
def test_parse_rfc3339(text: str, expected: int) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15T10:00:00",  # no time zone: ambiguous, refused
        "2024-01-15",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-01-15T10:00:00.1234567890Z",  # ten fraction digits
        "1969-12-31T23:59:59Z",  # before the epoch
        "2263-01-01T00:00:00Z",  # past a signed 64-bit nanosecond column
        "",
    ],
)
def test_parse_rfc3339_refuses(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_rfc3339(text)


def test_date_bounds_cover_the_whole_day() -> None:
    start = parse_date_or_datetime("2024-01-31")
    end = parse_date_or_datetime("2024-01-31", end_of_day=True)
    assert start == parse_rfc3339("2024-01-31T00:00:00Z")
    assert end == parse_rfc3339("2024-02-01T00:00:00Z") - 1
    assert parse_date_or_datetime("2024-01-31T05:00:00Z", end_of_day=True) == parse_rfc3339(
        "2024-01-31T05:00:00Z"
    )
    with pytest.raises(TimestampError):
        parse_date_or_datetime("2024-99-31")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_705_312_800_000_000_000, "2024-01-15T10:00:00Z"),
        (1_705_312_800_500_000_000, "2024-01-15T10:00:00.5Z"),  # trailing zeros cut
        (1_705_312_800_000_000_001, "2024-01-15T10:00:00.000000001Z"),
    ],
)
def test_format(ns: int, text: str) -> None:
    assert format_rfc3339(ns) == text


@given(st.integers(min_value=0, max_value=MAX_NS))
def test_format_then_parse_is_identity(ns: int) -> None:
    assert parse_rfc3339(format_rfc3339(ns)) == ns


def test_to_ns_needs_a_time_zone() -> None:
    assert to_ns(datetime(2024, 1, 15, 10, tzinfo=UTC)) == 1_705_312_800_000_000_000
    with pytest.raises(TimestampError):
        to_ns(datetime(2024, 1, 15, 10))  # noqa: DTZ001 - the naive value is the point


# Calendar days in a zone, including the 23- and 25-hour days of daylight-saving changes.
@pytest.mark.parametrize(
    ("now", "zone", "start", "end"),
    [
        ("2024-01-15T10:00:00Z", "UTC", "2024-01-15T00:00:00Z", "2024-01-16T00:00:00Z"),
        # 23:30 UTC is already the next day in Paris (UTC+1 in winter).
        ("2024-01-15T23:30:00Z", "Europe/Paris", "2024-01-15T23:00:00Z", "2024-01-16T23:00:00Z"),
        # Spring forward in New York on 2024-03-10: the day lasts 23 hours.
        (
            "2024-03-10T12:00:00Z",
            "America/New_York",
            "2024-03-10T05:00:00Z",
            "2024-03-11T04:00:00Z",
        ),
        # Fall back on 2024-11-03: the day lasts 25 hours.
        (
            "2024-11-03T12:00:00Z",
            "America/New_York",
            "2024-11-03T04:00:00Z",
            "2024-11-04T05:00:00Z",
        ),
        # Kiritimati (UTC+14): the local day starts on the previous UTC date.
        (
            "2024-01-15T09:00:00Z",
            "Pacific/Kiritimati",
            "2024-01-14T10:00:00Z",
            "2024-01-15T10:00:00Z",
        ),
    ],
)
def test_day_bounds_in_a_zone(now: str, zone: str, start: str, end: str) -> None:
    first, last = day_bounds(parse_rfc3339(now), ZoneInfo(zone))
    assert first == parse_rfc3339(start)
    assert last == parse_rfc3339(end) - 1
