"""When a schedule fires: cron expressions, fixed intervals and one-shot times, and what happens
to fires missed while nothing was running (issue 5, "Schedules"). Pure: instants in, instants
out, as integer nanoseconds since the epoch; the time zone database is the only thing read.

Cron expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first,
Quartz's order), matched by `croniter` against the wall clock of the schedule's IANA zone. Our
own code is the mapping between wall clock and instants, because that is where daylight saving
time breaks naive schedulers (croniter's own time-zone handling fires twice or not at all around
some transitions). The rules, the same in every zone and for any size of shift:

- A wall time the clock skips (spring forward) fires as far after the jump as it named after the
  last wall time before it — 02:30 in New York on a spring-forward day fires at 03:30 EDT, the
  reading PEP 495 gives a nonexistent time. A fire landing on an instant that also fires in its
  own right fires once.
- A wall time the clock shows twice (fall back) fires at its first occurrence, and at its
  second too when the expression names every hour (its hour field is `*`): "every 15 minutes"
  keeps firing every 15 real minutes through the repeated hour, "daily at 01:30" fires once.

So a daily schedule fires exactly once every local day, and an hourly one once every real hour.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

NS = 1_000_000_000
# How far around a wall time the search for its instants reaches: beyond any real DST shift.
_SHIFT_BOUND = timedelta(hours=3)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """A timing that cannot be used, with a message fit for a 400."""


class TriggerState(StrEnum):
    """A schedule's state, in Quartz's words (issue 5; Socotra's `triggerState`)."""

    NORMAL = "NORMAL"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"
    BLOCKED = "BLOCKED"
    NONE = "NONE"


class MisfirePolicy(StrEnum):
    """What to do with fires whose time passed while no scheduler ran."""

    FIRE_ONCE = "fire_once"  # one fire now, for the latest missed time (the default)
    FIRE_ALL = "fire_all"  # every missed time, oldest first
    SKIP = "skip"  # none; carry on from the next time to come


@dataclass(frozen=True)
class CronTiming:
    """A cron expression read on the wall clock of an IANA time zone."""

    expression: str
    zone: str


@dataclass(frozen=True)
class IntervalTiming:
    """Every `every_ns`, counted from `start_ns` (elapsed time: daylight saving is irrelevant)."""

    every_ns: int
    start_ns: int


@dataclass(frozen=True)
class OnceTiming:
    """A single instant."""

    at_ns: int


Timing = CronTiming | IntervalTiming | OnceTiming


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name`, or ScheduleError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        message = f"unknown time zone '{name}': use an IANA name like Europe/Paris"
        raise ScheduleError(message) from exc


def check_cron(expression: str) -> None:
    """ScheduleError unless `expression` is a cron expression of 5 or 6 fields."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ScheduleError(
            f"cron expression '{expression}' has {len(fields)} fields; it needs 5 (minute hour "
            "day-of-month month day-of-week) or 6 (seconds first)"
        )
    if not croniter.is_valid(expression, second_at_beginning=len(fields) == 6):
        raise ScheduleError(f"cron expression '{expression}' is not valid")


def check(timing: Timing) -> None:
    """ScheduleError for a timing that cannot fire as written."""
    if isinstance(timing, CronTiming):
        check_cron(timing.expression)
        zone_of(timing.zone)
    elif isinstance(timing, IntervalTiming) and timing.every_ns < NS:
        raise ScheduleError("an interval must be at least one second")


def next_fire(timing: Timing, after_ns: int) -> int | None:
    """The first fire strictly after `after_ns`, or None when there is none."""
    if isinstance(timing, OnceTiming):
        return timing.at_ns if timing.at_ns > after_ns else None
    if isinstance(timing, IntervalTiming):
        if after_ns < timing.start_ns:
            return timing.start_ns
        steps = (after_ns - timing.start_ns) // timing.every_ns + 1
        return timing.start_ns + steps * timing.every_ns
    return next(_cron_fires(timing, after_ns), None)


def fires_between(timing: Timing, after_ns: int, until_ns: int, *, limit: int) -> list[int]:
    """The fires in (`after_ns`, `until_ns`], oldest first, at most `limit` of them."""
    found: list[int] = []
    if isinstance(timing, CronTiming):  # one walk over the wall clock
        for fire in _cron_fires(timing, after_ns):
            if fire > until_ns or len(found) == limit:
                break
            found.append(fire)
        return found
    cursor = after_ns
    while len(found) < limit:
        following = next_fire(timing, cursor)
        if following is None or following > until_ns:
            break
        found.append(following)
        cursor = following
    return found


@dataclass(frozen=True)
class Plan:
    """What a scheduler does now: the scheduled times to fire (each the key of its fire, so two
    schedulers agree on it), and when to look again (None: the schedule is complete)."""

    fires: list[int]
    next_ns: int | None


def plan(
    timing: Timing,
    *,
    last_ns: int,
    now_ns: int,
    policy: MisfirePolicy,
    threshold_ns: int = 60 * NS,
    limit: int = 1000,
) -> Plan:
    """The fires due after `last_ns` (the last fire, or when the schedule began) up to `now_ns`.

    A fire no older than `threshold_ns` is on time and always fires; older ones have misfired
    and follow `policy` (Quartz's misfire threshold, 60 s by default). FIRE_ALL fires at most
    `limit` at once, oldest first; the rest are due at once in the next plan. FIRE_ONCE fires
    the latest missed time, however many were missed.
    """
    if policy is MisfirePolicy.FIRE_ALL:
        due = fires_between(timing, last_ns, now_ns, limit=limit)
        return Plan(due, next_fire(timing, due[-1] if due else last_ns))
    cutoff = max(last_ns, now_ns - threshold_ns)
    fires = fires_between(timing, cutoff, now_ns, limit=limit)  # on time
    if policy is MisfirePolicy.FIRE_ONCE:
        latest = _latest_fire(timing, after_ns=last_ns, until_ns=cutoff)
        if latest is not None:
            fires.insert(0, latest)
    return Plan(fires, next_fire(timing, now_ns))


def _latest_fire(timing: Timing, *, after_ns: int, until_ns: int) -> int | None:
    """The last fire in (`after_ns`, `until_ns`], searched back from `until_ns` in growing
    windows: after a month down, a per-minute schedule is not walked from its last fire."""
    for span in (3600 * NS, 86_400 * NS, 31 * 86_400 * NS, 366 * 86_400 * NS, None):
        start = after_ns if span is None else max(after_ns, until_ns - span)
        found = fires_between(timing, start, until_ns, limit=1_000_000)
        if found:
            return found[-1]
        if start == after_ns:
            return None
    return None


# -- cron on the wall clock ---------------------------------------------------------------------


def _cron_fires(timing: CronTiming, after_ns: int, *, widen_always: bool = False) -> Iterator[int]:
    """Fires strictly after `after_ns`, ascending, without duplicates.

    Near an offset change a wall time may map to an instant up to `_SHIFT_BOUND` away from its
    neighbours', so there the walk starts that far back and holds each instant until the wall
    clock is that far past it. Where the offset is steady (`_steady`) the mapping keeps
    the order, so the walk starts at `after_ns` and yields at once: a per-second expression
    would otherwise take three hours of wall clock (10,800 croniter steps) for every fire.
    `widen_always` takes the cautious walk everywhere; the tests compare the two.
    """
    zone = zone_of(timing.zone)
    fields = timing.expression.split()
    seconds_first = len(fields) == 6
    every_hour = fields[2 if seconds_first else 1] == "*"
    after = _EPOCH + timedelta(microseconds=after_ns // 1_000)  # exact: a float rounds
    wall = after.astimezone(zone).replace(tzinfo=None, fold=0)
    if widen_always or not _steady(zone, after_ns):
        wall -= _SHIFT_BOUND
    walls = copy.copy(_parsed(timing.expression))  # its own position, the parse shared
    walls.set_current(wall, force=True)
    pending: list[int] = []  # instants found, not yet known to be the smallest
    last = after_ns
    while True:
        try:
            candidate: datetime = walls.get_next(datetime)
        except CroniterBadDateError:  # no date matches (e.g. 30 February): it never fires
            return
        instants = _instants(candidate, zone, every_hour)
        for instant in instants:
            if instant > last and instant not in pending:
                pending.append(instant)
        pending.sort()
        # An instant is final once every wall time that could map before it has been seen.
        if not widen_always and _steady(zone, instants[0]):
            horizon = instants[0]
        else:
            horizon = _to_ns(candidate.replace(tzinfo=zone, fold=1) - _SHIFT_BOUND)
        while pending and pending[0] <= horizon:
            fire = pending.pop(0)
            last = fire
            yield fire


@functools.lru_cache(maxsize=4096)
def _parsed(expression: str) -> croniter:
    """A parsed expression to copy. Parsing costs croniter about 0.4 ms, three times the whole
    of a per-second walk's plan otherwise; a copy shares the parse and keeps its own position."""
    return croniter(
        expression, _EPOCH.replace(tzinfo=None), second_at_beginning=len(expression.split()) == 6
    )


def _steady(zone: ZoneInfo, instant_ns: int) -> bool:
    """Whether `zone` keeps one UTC offset from `_SHIFT_BOUND` before `instant_ns` to as long
    after. Reading the two ends is enough: no zone in the time zone database changes its offset
    twice within twice that bound (the tests check the database installed)."""
    moment = _EPOCH + timedelta(microseconds=instant_ns // 1_000)
    before = (moment - _SHIFT_BOUND).astimezone(zone).utcoffset()
    return before == (moment + _SHIFT_BOUND).astimezone(zone).utcoffset()


def _instants(wall: datetime, zone: ZoneInfo, every_hour: bool) -> list[int]:
    """The instants a matching wall time fires at (see the module docstring)."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return [_to_ns(first)]  # an ordinary wall time
    if _round_trips(first):  # shown twice: fall back
        return [_to_ns(first), _to_ns(second)] if every_hour else [_to_ns(first)]
    return [_to_ns(first)]  # skipped: fold 0 reads it with the offset before the jump


def _round_trips(local: datetime) -> bool:
    """Whether an aware wall time exists (converting it to UTC and back gives it again)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _to_ns(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1_000
