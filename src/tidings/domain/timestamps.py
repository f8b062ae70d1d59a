"""Timestamps as integer nanoseconds since the Unix epoch, UTC.

Why our own parser: `datetime` keeps microseconds, but EscapeKit's events carry Unix nanoseconds and
must read back exactly, so the core stores `int` nanoseconds and parses RFC 3339 fractions of up to
nine digits itself. `datetime.fromisoformat` does the calendar part.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

NS_PER_SECOND = 1_000_000_000
NS_PER_MICRO = 1_000
MIN_NS = 0  # 1970-01-01T00:00:00Z
MAX_NS = 2**63 - 1  # 2262-04-11T23:47:16.854775807Z, the end of a signed 64-bit column

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?(?P<tz>[Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimestampError(ValueError):
    """A timestamp that cannot be read, with a message fit for the caller."""


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 date-time with an explicit offset into nanoseconds since the epoch."""
    match = _RFC3339.match(text.strip())
    if match is None:
        raise TimestampError(
            f"'{text}' is not an RFC 3339 date-time with a time zone "
            "(for example 2024-01-15T10:00:00Z)"
        )
    tz = match["tz"].upper()
    try:
        base = datetime.fromisoformat(
            f"{match['date']}T{match['time']}{'+00:00' if tz == 'Z' else tz}"
        )
    except ValueError as exc:
        raise TimestampError(f"'{text}' is not a valid date-time: {exc}") from None
    frac = (match["frac"] or "").ljust(9, "0")
    delta = base.astimezone(UTC) - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + int(frac or "0")
    return check_range(ns, text)


def parse_date_or_datetime(text: str, *, end_of_day: bool = False) -> int:
    """Parse an ISO 8601 date (midnight UTC, or the last nanosecond of it) or an RFC 3339 time."""
    stripped = text.strip()
    if len(stripped) == 10:
        try:
            day = date.fromisoformat(stripped)
        except ValueError:
            raise TimestampError(f"'{text}' is not a valid date (YYYY-MM-DD)") from None
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if end_of_day:  # the last day a nanosecond column holds ends early: clamp to it
            return min(to_ns(start + timedelta(days=1)) - 1, MAX_NS)
        return to_ns(start)
    return parse_rfc3339(stripped)


def check_range(ns: int, original: object) -> int:
    """Refuse instants that a signed 64-bit nanosecond column cannot hold."""
    if ns < MIN_NS or ns > MAX_NS:
        raise TimestampError(f"'{original}' is outside 1970-01-01 .. 2262-04-11")
    return ns


def to_ns(moment: datetime) -> int:
    """Convert an aware datetime to nanoseconds since the epoch."""
    if moment.tzinfo is None:
        raise TimestampError("a time zone is required")
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * NS_PER_MICRO


def format_rfc3339(ns: int) -> str:
    """Render nanoseconds as RFC 3339 in UTC; fractions only when non-zero, trailing zeros cut."""
    seconds, frac = divmod(ns, NS_PER_SECOND)
    text = _format_seconds(seconds)
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


@lru_cache(maxsize=8192)
def _format_seconds(seconds: int) -> str:
    # Events of one batch mostly share their second; strftime is the costly part of rendering.
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def day_bounds(now_ns: int, zone: tzinfo) -> tuple[int, int]:
    """The first and last nanosecond of the calendar day containing `now_ns` in `zone`.

    A day is not always 24 hours: on daylight-saving days it is 23 or 25, which the arithmetic
    on local midnights gets right.
    """
    local = datetime.fromtimestamp(now_ns // NS_PER_SECOND, tz=UTC).astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    next_midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return to_ns(midnight), to_ns(next_midnight) - 1
