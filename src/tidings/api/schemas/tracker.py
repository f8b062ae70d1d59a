"""Tracker's event shape (`003_…txt`) and its mapping onto the core event, both ways.

Shared by the REST router and the gRPC service, so both speak exactly the same dialect: the gRPC
side turns its messages into these models first. Codes arrive as integers over REST and as
strings over gRPC ("1"); both are accepted and checked against the code tables, and a code outside
a table is a 400 that names the field and lists the allowed values.

Tracker fields with no column of their own (`notification`, `notifications`) live in the payload,
where rules and subscriptions can read them.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints

from tidings.api.time_bounds import bound_problem
from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.events import EventFilter, EventLimits, NewEvent
from tidings.domain.json import JSONValue
from tidings.domain.revisions import EventPatch
from tidings.domain.timestamps import TimestampError, parse_rfc3339
from tidings.domain.tracker import (
    ENVIRONMENTS,
    EVENT_TYPES,
    IMPACTS,
    PRIORITIES,
    STATUSES,
    CodeTable,
)

LIMITS = EventLimits()
Text = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.max_dimension_chars)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.max_title_chars)]
Message = Annotated[str, StringConstraints(max_length=LIMITS.max_message_chars)]
Link = Annotated[str, StringConstraints(max_length=2048)]
_CODE_TEXT = re.compile(r"\s*-?[0-9]{1,9}\s*")


def _code_input(value: object) -> object:
    """A code as an integer: gRPC sends "1", REST sends 1; a boolean is neither."""
    if isinstance(value, bool):
        raise ValueError("must be an integer code, not a boolean")
    if isinstance(value, str) and _CODE_TEXT.fullmatch(value):
        return int(value)
    return value


# Strict after the conversion, so `true`, `1.0` and "one" are refused with one message each.
Code = Annotated[int, Strict(), BeforeValidator(_code_input)]
NOTIFICATION_CHANNELS = ("slack", "email")
_ID = re.compile(r"[1-9][0-9]{0,18}")

# Tracker attribute -> the code table it is checked against, and the core field it fills.
_CODED: dict[str, tuple[CodeTable, str]] = {
    "type": (EVENT_TYPES, "type"),
    "status": (STATUSES, "status"),
    "environment": (ENVIRONMENTS, "environment"),
    "priority": (PRIORITIES, "priority"),
    "impact": (IMPACTS, "impact"),
}
# Tables whose canonical name (not the code) the core stores.
_BY_NAME = frozenset({"type", "status", "environment"})
# Plain attributes -> core fields.
_PLAIN: dict[str, str] = {
    "message": "message",
    "source": "source_ref",
    "service": "service",
    "owner": "owner",
    "relatedId": "related_id",
}
_TIMES: dict[str, str] = {"startDate": "started_at", "endDate": "ended_at"}
_PAYLOAD_ATTRIBUTES = ("notification", "notifications")


class TrackerAttributes(BaseModel):
    """`attributes` of a Tracker event; which are required depends on create or update."""

    model_config = ConfigDict(extra="forbid")

    message: Message | None = None
    source: Text | None = None
    type: Code | None = Field(default=None, description="1-5: " + EVENT_TYPES.allowed())
    priority: Code | None = Field(default=None, description="1 (P1, critical) .. 5 (P5, low)")
    relatedId: Text | None = None
    service: Text | None = None
    status: Code | None = Field(default=None, description=STATUSES.allowed())
    environment: Code | None = Field(default=None, description=ENVIRONMENTS.allowed())
    impact: Code | None = Field(default=None, description="1 (low) .. 3 (high)")
    startDate: str | None = Field(
        default=None, description="RFC 3339", examples=["2024-01-15T10:00:00Z"]
    )
    endDate: str | None = Field(default=None, description="RFC 3339")
    owner: Text | None = None
    stakeHolders: list[Text] | None = Field(default=None, max_length=LIMITS.max_list_items)
    notification: bool | None = None
    notifications: list[str] | None = Field(default=None, max_length=len(NOTIFICATION_CHANNELS))


class TrackerEventCreate(BaseModel):
    """`POST /api/v1alpha1/event`: `title`, `attributes.type` and `attributes.service` required."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    attributes: TrackerAttributes
    links: dict[str, Link] | None = Field(default=None, max_length=LIMITS.max_list_items)


class TrackerEventUpdate(BaseModel):
    """`PUT /api/v1alpha1/event`: the id, and only the fields to change."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    title: Title | None = None
    attributes: TrackerAttributes | None = None
    links: dict[str, Link | None] | None = Field(default=None, max_length=LIMITS.max_list_items)


def _code(
    table: CodeTable, value: int | str, path: str, problems: list[FieldProblem]
) -> int | None:
    """The code when `table` has it; otherwise a problem naming the path and allowed values."""
    code = int(value)
    if table.name_of(code) is None:
        problems.append(FieldProblem(path, table.problem(value)))
        return None
    return code


def _attribute_fields(
    attrs: TrackerAttributes, present: set[str], problems: list[FieldProblem]
) -> tuple[dict[str, JSONValue], dict[str, JSONValue]]:
    """Core field values and payload entries for the attributes named in `present`."""
    fields: dict[str, JSONValue] = {}
    payload: dict[str, JSONValue] = {}
    # The declared order, not the set's: revisions then list their changes in a stable order.
    for name in (n for n in TrackerAttributes.model_fields if n in present):
        value = getattr(attrs, name)
        path = f"attributes.{name}"
        if name in _CODED:
            table, core = _CODED[name]
            if value is None:
                fields[core] = None
                continue
            code = _code(table, value, path, problems)
            if code is not None:
                fields[core] = table.name_of(code) if name in _BY_NAME else code
        elif name in _PLAIN:
            fields[_PLAIN[name]] = value
        elif name in _TIMES:
            try:
                fields[_TIMES[name]] = None if value is None else parse_rfc3339(value)
            except TimestampError as exc:
                problems.append(FieldProblem(path, str(exc)))
        elif name == "stakeHolders":
            # The core keeps "no stakeholders" as null, so [] over null is no change.
            fields["stakeholders"] = list(value or ()) or None
        elif name == "notifications" and value is not None:
            unknown = [v for v in value if v not in NOTIFICATION_CHANNELS]
            if unknown:
                allowed = ", ".join(NOTIFICATION_CHANNELS)
                problems.append(FieldProblem(path, f"must list only {allowed}; got {unknown}"))
            payload[name] = list(dict.fromkeys(value))
        else:  # notification, or clearing notifications
            payload[name] = value
    return fields, payload


def to_new_event(body: TrackerEventCreate) -> NewEvent:
    """The core event a Tracker create asks for, or InvalidInput naming each bad field."""
    problems: list[FieldProblem] = []
    attrs = body.attributes
    for required in ("type", "service"):
        if getattr(attrs, required) is None:
            problems.append(FieldProblem(f"attributes.{required}", "is required"))
    fields, payload = _attribute_fields(attrs, set(attrs.model_fields_set), problems)
    if problems:
        raise InvalidInput.of(*problems)
    dimensions: dict[str, str | int] = {}
    for core in ("service", "owner", "status", "environment", "priority", "impact"):
        value = fields.get(core)
        if isinstance(value, str | int) and not isinstance(value, bool):
            dimensions[core] = value
    started, ended = fields.get("started_at"), fields.get("ended_at")
    return NewEvent(
        type=str(fields["type"]),
        payload={k: v for k, v in payload.items() if v is not None},
        title=body.title,
        message=_text(fields.get("message")),
        source_ref=_text(fields.get("source_ref")),
        dimensions=dimensions,
        links=dict(body.links or {}),
        related_id=_text(fields.get("related_id")),
        stakeholders=tuple(attrs.stakeHolders or ()),
        started_at=started if isinstance(started, int) else None,
        ended_at=ended if isinstance(ended, int) else None,
    )


def _text(value: JSONValue) -> str | None:
    return value if isinstance(value, str) else None


def to_patch(body: TrackerEventUpdate) -> EventPatch:
    """The partial update a Tracker PUT asks for; fields it does not name stay as they are."""
    problems: list[FieldProblem] = []
    fields: dict[str, JSONValue] = {}
    payload: dict[str, JSONValue] = {}
    if "title" in body.model_fields_set:
        if body.title is None:
            problems.append(FieldProblem("title", "is required and cannot be cleared"))
        fields["title"] = body.title
    if body.attributes is not None:
        present = set(body.attributes.model_fields_set)
        for required in ("type", "service"):
            if required in present and getattr(body.attributes, required) is None:
                problems.append(
                    FieldProblem(f"attributes.{required}", "is required and cannot be cleared")
                )
        attr_fields, payload = _attribute_fields(body.attributes, present, problems)
        fields.update(attr_fields)
    if problems:
        raise InvalidInput.of(*problems)
    return EventPatch(fields=fields, links=dict(body.links or {}), payload=payload)


def parse_id(text: str) -> int | None:
    """Tracker ids are strings; ours are positive integers. None means no such event.

    Only the one spelling `str(id)` gives names an event: `str.isdigit` would let "²" through
    (which `int` then refuses) and "١٢" alias event 12, and "007" or " 7" are other strings.
    """
    if _ID.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= 2**63 - 1 else None


# Paging of Tracker's lists, the same over REST and gRPC.
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
MAX_SERVICE_CHARS = 255
MAX_DATE_CHARS = 64
_CODE_TEXT = re.compile(r"\s*-?[0-9]{1,9}\s*")


def _filter_code(
    table: CodeTable, name: str, value: int | str | None, problems: list[FieldProblem]
) -> int | None:
    """A filter's code (None or "" names none), or a problem listing the allowed values."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if _CODE_TEXT.fullmatch(value) is None:
            problems.append(FieldProblem(name, table.problem(value)))
            return None
        value = int(value)
    if table.name_of(value) is None:
        problems.append(FieldProblem(name, table.problem(value)))
        return None
    return value


def _filter_time(
    name: str, text: str | None, problems: list[FieldProblem], *, end: bool
) -> int | None:
    if not text:
        return None
    if len(text) > MAX_DATE_CHARS:
        problems.append(FieldProblem(name, f"must be at most {MAX_DATE_CHARS} characters"))
        return None
    value, problem = bound_problem(name, text, end=end)
    if problem is not None:
        problems.append(problem)
    return value


def search_filter(
    *,
    priority: int | str | None = None,
    service: str | None = None,
    event_type: int | str | None = None,
    environment: int | str | None = None,
    status: int | str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    location: str = "query parameters",
) -> EventFilter:
    """The filter of `/events/search` (and gRPC SearchEvents): codes checked, names stored.

    A date `end_date` includes its whole day. Every problem is reported at once.
    """
    problems: list[FieldProblem] = []
    priority_code = _filter_code(PRIORITIES, "priority", priority, problems)
    type_code = _filter_code(EVENT_TYPES, "type", event_type, problems)
    environment_code = _filter_code(ENVIRONMENTS, "environment", environment, problems)
    status_code = _filter_code(STATUSES, "status", status, problems)
    if service is not None and len(service) > MAX_SERVICE_CHARS:
        problems.append(FieldProblem("service", f"must be at most {MAX_SERVICE_CHARS} characters"))
    start = _filter_time("start_date", start_date, problems, end=False)
    end = _filter_time("end_date", end_date, problems, end=True)
    if start is not None and end is not None and start > end:
        problems.append(FieldProblem("start_date", "must not be later than end_date"))
    if problems:
        raise InvalidInput.of(*problems, location=location)
    dimensions: list[tuple[str, str | int]] = []
    if priority_code is not None:
        dimensions.append(("priority", priority_code))
    if service:
        dimensions.append(("service", service))
    if environment_code is not None:
        dimensions.append(("environment", ENVIRONMENTS.codes[environment_code]))
    if status_code is not None:
        dimensions.append(("status", STATUSES.codes[status_code]))
    return EventFilter(
        type=None if type_code is None else EVENT_TYPES.codes[type_code],
        start=start,
        end=end,
        dimensions=tuple(dimensions),
    )
