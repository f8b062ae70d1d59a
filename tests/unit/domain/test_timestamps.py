"""Nanosecond timestamps: parsing, formatting and their bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.timestamps import (
    MAX_NS,
    TimestampError,
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
