"""The native schedule shapes: `ScheduleCreate` (POST and PUT: a whole definition) and the view.

Times are RFC 3339 in and out. The event is the native event's fields that make sense for an
event recorded again and again (no ids, no timestamps: the tick is its `occurred_at`). Unknown
fields are refused, as everywhere in the native API.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from tidings.api.schemas.events import LIMITS, Dimension, Name
from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.events import IMPACT_RANGE, PRIORITY_RANGE, TEXT_DIMENSIONS
from tidings.domain.json import JSONObject, depth_exceeds
from tidings.domain.timestamps import TimestampError, format_rfc3339, parse_rfc3339
from tidings.services.schedule_specs import (
    DEFAULT_GROUP,
    DEFAULT_ZONE,
    MAX_LOCATOR,
    NAME_RULE,
    TIMER_TYPES,
    EventTemplate,
    ScheduleSpec,
    template_of,
)
from tidings.storage.schedules import ScheduleRow

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Locator = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LOCATOR)]
Instant = Annotated[str, StringConstraints(max_length=64)]
_DEFAULT_TYPE = ", ".join(f"{kind}: {ref}" for kind, ref in TIMER_TYPES.items())


class ScheduledEvent(BaseModel):
    """The event every fire records."""

    model_config = ConfigDict(extra="forbid")

    type: str | None = Field(
        default=None,
        description=f"The event type; by default the timer of the timing ({_DEFAULT_TYPE}).",
        examples=["billing.invoice_due"],
    )
    title: Annotated[str, StringConstraints(max_length=LIMITS.max_title_chars)] | None = None
    message: Annotated[str, StringConstraints(max_length=LIMITS.max_message_chars)] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    service: Dimension | None = None
    environment: Dimension | None = None
    status: Dimension | None = None
    owner: Dimension | None = None
    priority: int | None = Field(default=None, ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1])
    impact: int | None = Field(default=None, ge=IMPACT_RANGE[0], le=IMPACT_RANGE[1])
    inventory_project: Dimension | None = None
    inventory_application: Dimension | None = None
    inventory_version: Dimension | None = None
    inventory_namespace: Dimension | None = None
    state_project: Dimension | None = None
    state_environment: Dimension | None = None
    state_deployment: Dimension | None = None
    links: dict[str, Annotated[str, StringConstraints(max_length=2048)]] | None = Field(
        default=None, max_length=LIMITS.max_list_items
    )
    allowed_groups: list[Name] | None = Field(default=None, max_length=LIMITS.max_list_items)
    allowed_roles: list[Name] | None = Field(default=None, max_length=LIMITS.max_list_items)

    def template(self) -> EventTemplate:
        """The service's form."""
        dimensions: dict[str, str | int] = {
            name: value for name in TEXT_DIMENSIONS if (value := getattr(self, name)) is not None
        }
        for name in ("priority", "impact"):
            if (number := getattr(self, name)) is not None:
                dimensions[name] = number
        payload: JSONObject = self.payload
        return EventTemplate(
            type=self.type,
            title=self.title,
            message=self.message,
            payload=payload,
            dimensions=dimensions,
            links=dict(self.links or {}),
            allowed_groups=tuple(dict.fromkeys(self.allowed_groups or ())),
            allowed_roles=tuple(dict.fromkeys(self.allowed_roles or ())),
        )


class ScheduleCreate(BaseModel):
    """A schedule: exactly one of `cron`, `interval_seconds` and `at`."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(description=f"Unique within its group: {NAME_RULE}.", examples=["nightly"])
    group: Text = Field(default=DEFAULT_GROUP, description="Quartz's job group.")
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    cron: Annotated[str, StringConstraints(max_length=255)] | None = Field(
        default=None,
        description="5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first),"
        " read on the wall clock of `time_zone`.",
        examples=["0 9 * * 1-5"],
    )
    interval_seconds: float | None = Field(
        default=None,
        strict=True,  # a number: not "60", not true
        description="Fire every this many seconds (at least 1).",
        examples=[300],
    )
    at: Instant | None = Field(
        default=None, description="A one-shot time (RFC 3339).", examples=["2030-01-01T09:00:00Z"]
    )
    start_at: Instant | None = Field(
        default=None,
        description="No fire before this time; an interval counts from it (by default from when "
        "the schedule was saved).",
    )
    end_at: Instant | None = Field(default=None, description="No fire after this time.")
    time_zone: Annotated[str, StringConstraints(max_length=64)] = Field(
        default=DEFAULT_ZONE, description="An IANA time zone for the cron expression."
    )
    misfire: Literal["fire_once", "fire_all", "skip"] = Field(
        default="fire_once", description="What to do with ticks missed while no scheduler ran."
    )
    concurrent: StrictBool = Field(
        default=True,
        description="false: a tick waits (BLOCKED) while the previous fire's actions still run.",
    )
    policy_locator: Locator | None = None
    transaction_locator: Locator | None = None
    custom_event_id: Locator | None = None
    event: ScheduledEvent = Field(default_factory=ScheduledEvent)

    def to_spec(self, *, max_depth: int) -> ScheduleSpec:
        """The service's input; 400 for times that are not RFC 3339 or a payload too deep."""
        problems: list[FieldProblem] = []
        times: dict[str, int | None] = {}
        for name in ("at", "start_at", "end_at"):
            value = getattr(self, name)
            try:
                times[name] = None if value is None else parse_rfc3339(value)
            except TimestampError as exc:
                problems.append(FieldProblem(name, str(exc)))
        if depth_exceeds(self.event.payload, max_depth):
            problems.append(FieldProblem("event.payload", f"nests deeper than {max_depth} levels"))
        if problems:
            raise InvalidInput.of(*problems)
        return ScheduleSpec(
            name=self.name,
            group=self.group,
            description=self.description,
            cron=self.cron,
            interval_seconds=self.interval_seconds,
            at=times["at"],
            start_at=times["start_at"],
            end_at=times["end_at"],
            time_zone=self.time_zone,
            misfire=self.misfire,
            concurrent=self.concurrent,
            policy_locator=self.policy_locator,
            transaction_locator=self.transaction_locator,
            custom_event_id=self.custom_event_id,
            event=self.event.template(),
        )


def _ts(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)


def _seconds(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def event_json(row: ScheduleRow) -> dict[str, Any]:
    """The event part of a schedule's view, in the native event's field names."""
    template = template_of(row)
    out: dict[str, Any] = {
        "type": row.event_type,
        "title": template.title,
        "message": template.message,
        "payload": template.payload,
    }
    out.update(template.dimensions)
    if template.links:
        out["links"] = template.links
    if template.allowed_groups:
        out["allowed_groups"] = list(template.allowed_groups)
    if template.allowed_roles:
        out["allowed_roles"] = list(template.allowed_roles)
    return out


def schedule_json(row: ScheduleRow) -> dict[str, Any]:
    """A schedule as the native API shows it: its definition, state and failed job."""
    once = row.timing == "once"
    return {
        "id": row.id,
        "name": row.name,
        "group": row.group_name,
        "description": row.description,
        "cron": row.cron,
        "interval_seconds": _seconds(row.interval_seconds),
        "at": _ts(row.start_at) if once else None,
        "start_at": None if once else _ts(row.start_at),
        "end_at": _ts(row.end_at),
        "time_zone": row.time_zone,
        "misfire": row.misfire,
        "concurrent": row.concurrent,
        "policy_locator": row.policy_locator,
        "transaction_locator": row.transaction_locator,
        "custom_event_id": row.custom_event_id,
        "event": event_json(row),
        "state": row.state,
        "next_fire_at": _ts(row.next_fire_at),
        "last_fire_at": _ts(row.last_fire_at),
        "failure_count": row.failure_count,
        "failed_job_state": row.failed_job_state,
        "failed_job_created_at": _ts(row.failed_job_created_at),
        "failed_job_updated_at": _ts(row.failed_job_updated_at),
        "last_error": row.last_error,
        "resumed_by": row.resumed_by_locator,
        "resumed_at": _ts(row.resumed_at),
        "created_by": row.created_by_locator,
        "created": format_rfc3339(row.created_at),
        "updated": format_rfc3339(row.updated_at),
    }
