"""Schedule arithmetic: cron on the wall clock through daylight-saving changes in every zone,
intervals, one-shot times, and what happens to fires missed while no scheduler ran."""

from __future__ import annotations

import functools
import itertools
import struct
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest
import tzdata  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.domain.schedule_times import (
    NS,
    CronTiming,
    IntervalTiming,
    MisfirePolicy,
    OnceTiming,
    Plan,
    ScheduleError,
    check,
    fires_between,
    next_fire,
    plan,
)
from tidings.domain.schedule_times import _cron_fires as _cron_fires

MINUTE, HOUR = 60 * NS, 3600 * NS
NEW_YORK = "America/New_York"


def at(zone: str, *parts: int) -> int:
    """An instant from a wall time (year, month, day[, hour[, minute]]) that exists once in
    `zone`."""
    y, mo, d, h, mi = (*parts, 0, 0)[:5]
    return int(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone)).timestamp()) * NS


def shown(zone: str, fires: list[int]) -> list[str]:
    """Fires as the zone's wall clock with its abbreviation (which tells the two 01:30s apart)."""
    tz = ZoneInfo(zone)
    return [datetime.fromtimestamp(f / NS, tz).strftime("%m-%d %H:%M %Z") for f in fires]


def between(expression: str, zone: str, start: tuple[int, ...], end: tuple[int, ...]) -> list[str]:
    timing = CronTiming(expression, zone)
    return shown(zone, fires_between(timing, at(zone, *start), at(zone, *end), limit=500))


# -- daylight saving: the cases the issue names -------------------------------------------------


def test_a_daily_time_the_clock_skips_fires_as_far_after_the_jump() -> None:
    assert between("30 2 * * *", NEW_YORK, (2026, 3, 7), (2026, 3, 10)) == [
        "03-07 02:30 EST",
        "03-08 03:30 EDT",
        "03-09 02:30 EDT",
    ]


def test_an_hourly_cron_fires_once_in_each_real_hour_when_the_clock_springs_forward() -> None:
    assert between("0 * * * *", NEW_YORK, (2026, 3, 8, 0, 30), (2026, 3, 8, 4)) == [
        "03-08 01:00 EST",
        "03-08 03:00 EDT",  # 02:00 does not exist; its image is 03:00, which fires once
        "03-08 04:00 EDT",
    ]
    day = between("0 * * * *", NEW_YORK, (2026, 3, 7, 23, 30), (2026, 3, 8, 23, 30))
    assert len(day) == 23


def test_a_daily_time_shown_twice_fires_once_when_the_clock_falls_back() -> None:
    assert between("30 1 * * *", NEW_YORK, (2026, 10, 31), (2026, 11, 3)) == [
        "10-31 01:30 EDT",
        "11-01 01:30 EDT",
        "11-02 01:30 EST",
    ]


def test_an_hourly_cron_fires_in_both_repeated_hours_when_the_clock_falls_back() -> None:
    assert between("0 * * * *", NEW_YORK, (2026, 11, 1, 0, 30), (2026, 11, 1, 3)) == [
        "11-01 01:00 EDT",
        "11-01 01:00 EST",
        "11-01 02:00 EST",
        "11-01 03:00 EST",
    ]
    quarter = between("*/15 * * * *", NEW_YORK, (2026, 10, 31, 23, 59), (2026, 11, 1, 23, 59))
    assert len(quarter) == 25 * 4


@pytest.mark.parametrize(
    ("zone", "expression", "start", "end", "expected"),
    [
        # London changes at 01:00 UTC; daily 01:30 on the spring-forward day becomes 02:30 BST.
        (
            "Europe/London",
            "30 1 * * *",
            (2026, 3, 28),
            (2026, 3, 30),
            ["03-28 01:30 GMT", "03-29 02:30 BST"],
        ),
        # Sydney is southern: it falls back in April and springs forward in October.
        (
            "Australia/Sydney",
            "30 2 * * *",
            (2026, 4, 4),
            (2026, 4, 6),
            ["04-04 02:30 AEDT", "04-05 02:30 AEDT"],
        ),
        (
            "Australia/Sydney",
            "30 2 * * *",
            (2026, 10, 3),
            (2026, 10, 5),
            ["10-03 02:30 AEST", "10-04 03:30 AEDT"],
        ),
        # Lord Howe shifts by half an hour.
        (
            "Australia/Lord_Howe",
            "*/30 * * * *",
            (2026, 4, 5, 1, 15),
            (2026, 4, 5, 2, 15),
            ["04-05 01:30 +11", "04-05 01:30 +1030", "04-05 02:00 +1030"],
        ),
        (
            "Australia/Lord_Howe",
            "0 2 * * *",
            (2026, 10, 3, 12),
            (2026, 10, 5, 12),
            ["10-04 02:30 +11", "10-05 02:00 +11"],
        ),
        # No daylight saving, a half-hour offset.
        (
            "Asia/Kolkata",
            "0 9 * * 1-5",
            (2026, 3, 6),
            (2026, 3, 10),
            ["03-06 09:00 IST", "03-09 09:00 IST"],
        ),
    ],
)
def test_other_zones(
    zone: str,
    expression: str,
    start: tuple[int, ...],
    end: tuple[int, ...],
    expected: list[str],
) -> None:
    assert between(expression, zone, start, end) == expected


def test_a_daily_cron_fires_exactly_once_every_local_day_in_every_zone() -> None:
    for zone in sorted(available_timezones()):
        timing = CronTiming("30 2 * * *", zone)
        start = int(datetime(2025, 12, 31, tzinfo=UTC).timestamp()) * NS
        end = int(datetime(2027, 1, 2, tzinfo=UTC).timestamp()) * NS
        fires = fires_between(timing, start, end, limit=1000)
        days = [datetime.fromtimestamp(f / NS, ZoneInfo(zone)).date() for f in fires]
        assert fires == sorted(set(fires)), zone
        assert len(days) == len(set(days)), zone
        year = [d for d in days if d.year == 2026]
        assert len(year) == 365, (zone, len(year))


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(sorted(available_timezones())), st.integers(2020, 2030))
def test_an_hourly_cron_fires_every_real_hour_give_or_take_a_shift(zone: str, year: int) -> None:
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * NS
    hours = 370 * 24
    fires = fires_between(CronTiming("0 * * * *", zone), start, start + hours * HOUR, limit=9000)
    gaps = {b - a for a, b in itertools.pairwise(fires)}
    assert abs(len(fires) - hours) <= 2, (zone, len(fires))
    assert gaps <= {30 * MINUTE, HOUR, 90 * MINUTE, 2 * HOUR}, (zone, sorted(gaps))


@functools.cache
def offset_changes(zone: str, year: int) -> list[int]:
    """The instants (to the hour) at which `zone` changed its UTC offset in `year`."""
    tz = ZoneInfo(zone)
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    offsets = [datetime.fromtimestamp(start + h * 3600, tz).utcoffset() for h in range(24 * 366)]
    return [(start + h * 3600) * NS for h in range(1, len(offsets)) if offsets[h] != offsets[h - 1]]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(available_timezones())),
    st.integers(2024, 2028),
    st.integers(0, 3),
    st.integers(-5 * 3600, 5 * 3600),
    st.sampled_from([0, -1, 1, NS // 2]),  # the scheduler plans from a fire's time less 1 ns
    st.sampled_from(
        [
            "*/15 * * * *",
            "30 1 * * *",
            "0 * * * *",
            "*/7 * * * *",
            "0,30 */2 * * *",
            "*/20 * * * * *",
        ]
    ),
)
def test_the_walk_widens_only_near_an_offset_change_and_fires_the_same(
    zone: str, year: int, which: int, seconds: int, nudge: int, expression: str
) -> None:
    """The fast walk (from `after` itself where the offset is steady) against the cautious one
    (three hours back everywhere), from instants around a real offset change."""
    changes = offset_changes(zone, year) or [int(datetime(year, 6, 1, tzinfo=UTC).timestamp()) * NS]
    after = changes[which % len(changes)] + seconds * NS + nudge
    timing = CronTiming(expression, zone)
    fast = list(itertools.islice(_cron_fires(timing, after), 40))
    cautious = list(itertools.islice(_cron_fires(timing, after, widen_always=True), 40))
    assert fast == cautious
    assert all(f > after for f in fast)


def tzif_offset_changes(zone: str) -> list[int]:
    """The instants (seconds) at which `zone` changes its UTC offset, read from its TZif file
    (RFC 8536): the 64-bit block after the 32-bit one, or the 32-bit one in a version-1 file.
    Changes past the table follow the file's POSIX TZ footer: at most two a year, months apart."""
    path = next(
        (Path(base) / zone for base in zoneinfo.TZPATH if (Path(base) / zone).is_file()),
        Path(tzdata.__file__).parent / "zoneinfo" / zone,
    )
    data = path.read_bytes()
    isutc, isstd, leap, times, types, chars = struct.unpack(">6l", data[20:44])
    start, width = 0, 4
    if data[4:5] != b"\0":  # version 2 or later: skip the 32-bit block
        start = 44 + times * 5 + types * 6 + chars + leap * 8 + isstd + isutc
        isutc, isstd, leap, times, types, chars = struct.unpack(
            ">6l", data[start + 20 : start + 44]
        )
        width = 8
    body = start + 44
    instants = struct.unpack(
        f">{times}{'q' if width == 8 else 'l'}", data[body : body + times * width]
    )
    kinds = data[body + times * width : body + times * (width + 1)]
    table = body + times * (width + 1)
    offsets = [struct.unpack(">l", data[table + 6 * k : table + 6 * k + 4])[0] for k in kinds]
    return [instants[n] for n in range(1, times) if offsets[n] != offsets[n - 1]]


def test_no_zone_changes_its_offset_twice_within_six_hours() -> None:
    """What the fast cron walk rests on: reading a zone's offset three hours either side of an
    instant finds any change between them (`schedule_times._steady`)."""
    checked = 0
    for zone in sorted(available_timezones()):
        changes = tzif_offset_changes(zone)
        gaps = [b - a for a, b in itertools.pairwise(changes)]
        assert all(gap >= 6 * 3600 for gap in gaps), zone
        checked += bool(changes)
    assert checked > 300  # the files were read: most zones have changed their offset


def test_an_expression_no_date_matches_never_fires() -> None:
    timing = CronTiming("0 0 30 2 *", "UTC")
    assert next_fire(timing, 0) is None
    assert plan(timing, last_ns=0, now_ns=NOON, policy=MisfirePolicy.FIRE_ALL) == Plan([], None)


def test_six_fields_put_the_seconds_first() -> None:
    timing = CronTiming("15 0 12 * * *", "UTC")
    assert shown("UTC", [next_fire(timing, at("UTC", 2026, 5, 1)) or 0]) == ["05-01 12:00 UTC"]
    first = next_fire(timing, at("UTC", 2026, 5, 1))
    assert first == at("UTC", 2026, 5, 1, 12) + 15 * NS


# -- intervals and one-shot times ---------------------------------------------------------------


def test_an_interval_counts_elapsed_time_from_its_start() -> None:
    timing = IntervalTiming(every_ns=90 * MINUTE, start_ns=1_000 * NS)
    assert next_fire(timing, 0) == 1_000 * NS
    assert next_fire(timing, 1_000 * NS) == 1_000 * NS + 90 * MINUTE
    assert next_fire(timing, 1_000 * NS + 90 * MINUTE - 1) == 1_000 * NS + 90 * MINUTE
    assert fires_between(timing, 0, 1_000 * NS + 3 * 90 * MINUTE, limit=10) == [
        1_000 * NS + k * 90 * MINUTE for k in range(4)
    ]


def test_a_one_shot_time_fires_once() -> None:
    timing = OnceTiming(at_ns=500)
    assert next_fire(timing, 499) == 500
    assert next_fire(timing, 500) is None
    assert plan(timing, last_ns=500, now_ns=10**12, policy=MisfirePolicy.FIRE_ALL).next_ns is None


# -- misfires -----------------------------------------------------------------------------------

HOURLY = CronTiming("0 * * * *", "UTC")
NOON = at("UTC", 2026, 6, 1, 12)


@pytest.mark.parametrize(
    ("policy", "fires"),
    [
        (MisfirePolicy.FIRE_ONCE, [NOON + 5 * HOUR]),
        (MisfirePolicy.FIRE_ALL, [NOON + k * HOUR for k in range(1, 6)]),
        (MisfirePolicy.SKIP, []),
    ],
)
def test_fires_missed_during_downtime_follow_the_policy(
    policy: MisfirePolicy, fires: list[int]
) -> None:
    now = NOON + 5 * HOUR + 10 * MINUTE  # down since just after noon: 13:00 to 17:00 missed
    assert plan(HOURLY, last_ns=NOON, now_ns=now, policy=policy) == Plan(fires, NOON + 6 * HOUR)


def test_a_fire_within_the_threshold_is_on_time_whatever_the_policy() -> None:
    now = NOON + HOUR + 30 * NS
    for policy in MisfirePolicy:
        result = plan(HOURLY, last_ns=NOON, now_ns=now, policy=policy)
        assert (result.fires, result.next_ns) == ([NOON + HOUR], NOON + 2 * HOUR)


def test_missed_and_on_time_fires_together() -> None:
    now = NOON + 3 * HOUR + 5 * NS
    result = plan(HOURLY, last_ns=NOON, now_ns=now, policy=MisfirePolicy.FIRE_ONCE)
    assert result.fires == [NOON + 2 * HOUR, NOON + 3 * HOUR]


def test_fire_all_comes_in_bounded_plans_and_the_others_drop_what_they_could_not_list() -> None:
    now = NOON + 10 * HOUR + 10 * MINUTE
    first = plan(HOURLY, last_ns=NOON, now_ns=now, policy=MisfirePolicy.FIRE_ALL, limit=4)
    assert first.fires == [NOON + k * HOUR for k in range(1, 5)]
    assert first.next_ns == NOON + 5 * HOUR  # the rest are due at once
    once = plan(HOURLY, last_ns=NOON, now_ns=now, policy=MisfirePolicy.FIRE_ONCE, limit=4)
    assert once == Plan([NOON + 10 * HOUR], NOON + 11 * HOUR)  # the latest, past the limit


def test_fire_once_after_a_long_downtime_fires_the_latest_missed_time() -> None:
    minutely = CronTiming("* * * * *", "UTC")
    now = NOON + 40 * 86_400 * NS + 30 * NS  # forty days down, 30 s past a minute
    result = plan(minutely, last_ns=NOON, now_ns=now, policy=MisfirePolicy.FIRE_ONCE)
    assert result == Plan([now - 30 * NS - 60 * NS, now - 30 * NS], now + 30 * NS)


# -- checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timing", "message"),
    [
        (
            CronTiming("* * * *", "UTC"),
            "cron expression '* * * *' has 4 fields; it needs 5 (minute hour day-of-month month "
            "day-of-week) or 6 (seconds first)",
        ),
        (CronTiming("61 * * * *", "UTC"), "cron expression '61 * * * *' is not valid"),
        (
            CronTiming("0 * * * *", "Mars/Olympus"),
            "unknown time zone 'Mars/Olympus': use an IANA name like Europe/Paris",
        ),
        (IntervalTiming(every_ns=NS - 1, start_ns=0), "an interval must be at least one second"),
    ],
)
def test_timings_that_cannot_fire_are_refused(
    timing: CronTiming | IntervalTiming, message: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        check(timing)
    assert str(caught.value) == message


def test_valid_timings_pass() -> None:
    check(CronTiming("0 0 12 ? * MON-FRI", "Europe/Paris"))
    check(CronTiming("0 0 * * *", "UTC"))
    check(IntervalTiming(every_ns=NS, start_ns=0))
    check(OnceTiming(at_ns=1))
