"""What a schedule is made of, checked: its name, its timing, the event it emits, and how one fire
becomes that event. Pure functions over values, shared by the schedule service (saving) and the
firer (firing), so a schedule is checked by the same rules that later fire it.

Event types: a schedule that names no event type emits the `core` pack's timer event of its
timing — `core.cron_timer`, `core.interval_timer` or `core.date_timer` — whose payload carries
the schedule's name, group, scope and the time it was due (`scheduled_for`) on top of any payload
the schedule gives. A schedule may name any other type instead (a Socotra custom event, say):
its payload is then exactly the one it gives. Either way the event's `config.schedule` says which
schedule and which tick it came from, its `occurred_at` is the tick's scheduled instant, and its
request id is `schedule-<id>-<tick in ns>` — the same for every attempt at that tick, which is how
a tick is recorded once (see `schedule_fires`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from tidings.domain.errors import FieldProblem
from tidings.domain.events import TYPE_PATTERN, TYPE_RULE, NewEvent
from tidings.domain.json import JSONObject
from tidings.domain.schedule_times import (
    NS,
    CronTiming,
    IntervalTiming,
    MisfirePolicy,
    OnceTiming,
    ScheduleError,
    Timing,
    check,
    next_fire,
    zone_of,
)
from tidings.domain.timestamps import format_rfc3339
from tidings.storage.schedules import ScheduleRow

DEFAULT_GROUP = "DEFAULT"  # Quartz's default group
DEFAULT_ZONE = "UTC"
TIMER_TYPES = {
    "cron": "core.cron_timer",
    "interval": "core.interval_timer",
    "once": "core.date_timer",
}
NAME_RULE = "1-200 characters, no control characters, no leading or trailing space"
_NAME = re.compile(r"[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]{0,198}[^\x00-\x1f\x7f\s])?")
MAX_LOCATOR = 255
MAX_INTERVAL_SECONDS = 10 * 366 * 86_400
REQUEST_PREFIX = "schedule-"


@dataclass(frozen=True)
class EventTemplate:
    """The event each fire emits, less what the fire adds (tick, schedule, scope)."""

    type: str | None = None  # None: the timer type of the schedule's timing
    title: str | None = None
    message: str | None = None
    payload: JSONObject = field(default_factory=dict)
    dimensions: dict[str, str | int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    allowed_groups: tuple[str, ...] = ()
    allowed_roles: tuple[str, ...] = ()

    def to_json(self) -> JSONObject:
        """The stored form (the `event` column); the type has a column of its own."""
        return {
            "title": self.title,
            "message": self.message,
            "payload": self.payload,
            "dimensions": dict(self.dimensions),
            "links": dict(self.links),
            "allowed_groups": list(self.allowed_groups),
            "allowed_roles": list(self.allowed_roles),
        }


def template_of(row: ScheduleRow) -> EventTemplate:
    """A stored schedule's event, as saved."""
    doc = row.event
    return EventTemplate(
        type=row.event_type,
        title=doc.get("title"),
        message=doc.get("message"),
        payload=dict(doc.get("payload") or {}),
        dimensions=dict(doc.get("dimensions") or {}),
        links=dict(doc.get("links") or {}),
        allowed_groups=tuple(doc.get("allowed_groups") or ()),
        allowed_roles=tuple(doc.get("allowed_roles") or ()),
    )


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule as a caller defines it. Exactly one of `cron`, `interval_seconds` and `at`."""

    name: str
    group: str = DEFAULT_GROUP
    description: str | None = None
    cron: str | None = None
    interval_seconds: float | None = None
    at: int | None = None
    start_at: int | None = None
    end_at: int | None = None
    time_zone: str = DEFAULT_ZONE
    misfire: str = MisfirePolicy.FIRE_ONCE.value
    concurrent: bool = True
    policy_locator: str | None = None
    transaction_locator: str | None = None
    custom_event_id: str | None = None
    event: EventTemplate = field(default_factory=EventTemplate)

    @property
    def timing_kind(self) -> str:
        """`cron`, `interval` or `once` (the first given, when the spec is not checked yet)."""
        if self.cron is not None:
            return "cron"
        return "interval" if self.interval_seconds is not None else "once"

    @property
    def event_type(self) -> str:
        """The type its fires emit."""
        return self.event.type or TIMER_TYPES[self.timing_kind]


def spec_problems(spec: ScheduleSpec) -> list[FieldProblem]:
    """Everything wrong with a definition, each naming its field."""
    problems = [
        FieldProblem(name, f"must be {NAME_RULE}")
        for name, value in (("name", spec.name), ("group", spec.group))
        if not _NAME.fullmatch(value)
    ]
    given = [n for n in ("cron", "interval_seconds", "at") if getattr(spec, n) is not None]
    if len(given) != 1:
        which = "none" if not given else " and ".join(given)
        problems.append(
            FieldProblem("timing", f"give exactly one of cron, interval_seconds and at ({which})")
        )
    try:
        zone_of(spec.time_zone)
    except ScheduleError as exc:
        problems.append(FieldProblem("time_zone", str(exc)))
    if spec.cron is not None:
        try:
            check(CronTiming(spec.cron, DEFAULT_ZONE))
        except ScheduleError as exc:
            problems.append(FieldProblem("cron", str(exc)))
    seconds = spec.interval_seconds
    if seconds is not None and not (
        math.isfinite(seconds) and 1 <= seconds <= MAX_INTERVAL_SECONDS
    ):
        problems.append(
            FieldProblem("interval_seconds", f"must be from 1 to {MAX_INTERVAL_SECONDS} seconds")
        )
    if spec.at is not None and (spec.start_at is not None or spec.end_at is not None):
        which = "start_at" if spec.start_at is not None else "end_at"
        problems.append(FieldProblem(which, "does not apply to a one-shot schedule (at)"))
    if spec.start_at is not None and spec.end_at is not None and spec.end_at <= spec.start_at:
        problems.append(FieldProblem("end_at", "must be later than start_at"))
    if spec.misfire not in {p.value for p in MisfirePolicy}:
        allowed = ", ".join(p.value for p in MisfirePolicy)
        problems.append(FieldProblem("misfire", f"must be one of {allowed}"))
    for name in ("policy_locator", "transaction_locator", "custom_event_id"):
        value = getattr(spec, name)
        if value is not None and not 1 <= len(value) <= MAX_LOCATOR:
            problems.append(FieldProblem(name, f"must be 1-{MAX_LOCATOR} characters"))
    if spec.event.type is not None and not TYPE_PATTERN.match(spec.event.type):
        problems.append(FieldProblem("event.type", f"must be {TYPE_RULE}"))
    return problems


def interval_ns(seconds: float) -> int:
    """An interval in whole nanoseconds."""
    return round(seconds * NS)


def timing_of(row: ScheduleRow) -> Timing:
    """The timing of a stored schedule."""
    if row.timing == "cron":
        assert row.cron is not None
        return CronTiming(row.cron, row.time_zone)
    assert row.start_at is not None
    if row.timing == "interval":
        assert row.interval_seconds is not None
        return IntervalTiming(interval_ns(row.interval_seconds), row.start_at)
    return OnceTiming(row.start_at)


def first_fire(row: ScheduleRow, *, now: int) -> int | None:
    """When a schedule saved (or resumed) at `now` fires first: its one-shot time even when that
    has passed (the misfire policy then decides), otherwise its next tick after `now` and not
    before `start_at`; None when that is past `end_at`."""
    timing = timing_of(row)
    if isinstance(timing, OnceTiming):
        return timing.at_ns
    after = now if row.start_at is None or row.timing == "interval" else max(now, row.start_at - 1)
    return within_end(row, next_fire(timing, after))


def next_from_now(row: ScheduleRow, *, now: int) -> int | None:
    """The first tick after `now` (a one-shot time that passed has none)."""
    return within_end(row, next_fire(timing_of(row), now))


def within_end(row: ScheduleRow, fire: int | None) -> int | None:
    """`fire`, or None when it falls after the schedule's `end_at`."""
    if fire is None or (row.end_at is not None and fire > row.end_at):
        return None
    return fire


def columns(spec: ScheduleSpec, *, now: int) -> dict[str, object]:
    """The stored columns of a checked definition (an interval counts from `start_at`, or from
    when it was saved)."""
    kind = spec.timing_kind
    start_at = spec.at if kind == "once" else spec.start_at
    if kind == "interval" and start_at is None:
        start_at = now
    return {
        "name": spec.name,
        "group_name": spec.group,
        "description": spec.description,
        "timing": kind,
        "cron": spec.cron,
        "interval_seconds": spec.interval_seconds,
        "start_at": start_at,
        "end_at": spec.end_at,
        "time_zone": spec.time_zone,
        "misfire": spec.misfire,
        "concurrent": spec.concurrent,
        "policy_locator": spec.policy_locator,
        "transaction_locator": spec.transaction_locator,
        "custom_event_id": spec.custom_event_id,
        "event_type": spec.event_type,
        "event": spec.event.to_json(),
    }


def request_id(schedule_id: int, fire_at: int) -> str:
    """The request id (and idempotency key) of one tick: the same on every attempt."""
    return f"{REQUEST_PREFIX}{schedule_id}-{fire_at}"


def fire_event(row: ScheduleRow, *, fire_at: int, now: int) -> NewEvent:
    """The event a fire of `row` at the tick `fire_at` emits (see the module docstring)."""
    template = template_of(row)
    origin: JSONObject = {
        "schedule_id": row.id,
        "schedule": row.name,
        "group": row.group_name,
        "scheduled_for": format_rfc3339(fire_at),
    }
    for name in ("policy_locator", "transaction_locator", "custom_event_id"):
        value = getattr(row, name)
        if value is not None:
            origin[name] = value
    payload = template.payload
    if row.event_type in TIMER_TYPES.values():
        payload = {**payload, **origin, "fired_at": format_rfc3339(now)}
    return NewEvent(
        type=row.event_type,
        payload=payload,
        config={"schedule": origin},
        title=template.title,
        message=template.message,
        dimensions=template.dimensions,
        links=template.links,
        allowed_groups=template.allowed_groups,
        allowed_roles=template.allowed_roles,
        occurred_at=fire_at,
    )
