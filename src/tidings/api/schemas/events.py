"""The native event shape: Attune's event object, extended with the core model's fields.

`trigger_ref` names the event's type; `type` is accepted as its alias. Unknown fields are refused
rather than dropped, so a typo never loses data silently.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from tidings.domain.errors import FieldProblem
from tidings.domain.event_documents import event_json as event_json
from tidings.domain.events import (
    GROUP_PATTERN,
    IMPACT_RANGE,
    PRIORITY_RANGE,
    TEXT_DIMENSIONS,
    TYPE_PATTERN,
    TYPE_RULE,
    EventLimits,
    EventSummary,
    NewEvent,
)
from tidings.domain.json import JSONObject, depth_exceeds
from tidings.domain.timestamps import TimestampError, format_rfc3339, parse_rfc3339

LIMITS = EventLimits()
Dimension = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.max_dimension_chars)]
Name = Annotated[str, StringConstraints(pattern=GROUP_PATTERN.pattern)]


class EventCreate(BaseModel):
    """An event to record."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # `type` comes first so the check of `trigger_ref` can see it.
    type: str | None = Field(default=None, description="Alias of trigger_ref.")
    trigger_ref: str | None = Field(
        default=None,
        validate_default=True,
        description=f"The event's type, e.g. core.webhook_received ({TYPE_RULE}). Required, "
        "or given as `type`.",
        examples=["core.webhook_received"],
    )
    trigger: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Optional trigger id."
    )
    source: int | None = Field(default=None, ge=1, le=2**63 - 1, description="Optional sensor id.")
    source_ref: Dimension | None = None
    config: dict[str, Any] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    title: Annotated[str, StringConstraints(max_length=LIMITS.max_title_chars)] | None = None
    message: Annotated[str, StringConstraints(max_length=LIMITS.max_message_chars)] | None = None
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
    related_id: Dimension | None = None
    stakeholders: list[Dimension] | None = Field(default=None, max_length=LIMITS.max_list_items)
    allowed_groups: list[Name] | None = Field(default=None, max_length=LIMITS.max_list_items)
    allowed_roles: list[Name] | None = Field(default=None, max_length=LIMITS.max_list_items)
    username: Dimension | None = None
    occurred_at: str | None = Field(
        default=None,
        description="RFC 3339 with a time zone; up to nanosecond precision. Defaults to now.",
        examples=["2024-01-15T10:00:00Z"],
    )
    started_at: str | None = None
    ended_at: str | None = None

    @field_validator("trigger_ref")
    @classmethod
    def _one_type(cls, value: str | None, info: ValidationInfo) -> str:
        alias = info.data.get("type")
        if value and alias and value != alias:
            raise ValueError("trigger_ref and type are aliases and must not differ")
        chosen = value or alias
        if not chosen:
            raise ValueError("is required (or give its alias `type`)")
        if not TYPE_PATTERN.match(chosen):
            raise ValueError(f"must be {TYPE_RULE}")
        return str(chosen)


class EventBatchCreate(BaseModel):
    """Up to `TIDINGS_MAX_BATCH_EVENTS` events, stored all or none."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventCreate] = Field(min_length=1)


def to_new_event(
    body: EventCreate, *, max_depth: int, index: int | None = None
) -> tuple[NewEvent | None, list[FieldProblem]]:
    """Check what pydantic cannot (type shape, nesting depth, timestamps) and build the event."""
    problems: list[FieldProblem] = []
    event_type = body.trigger_ref or ""  # the validator resolved the alias and checked it
    for name, doc in (("payload", body.payload), ("config", body.config)):
        if doc is not None and depth_exceeds(doc, max_depth):
            problems.append(FieldProblem(name, f"nests deeper than {max_depth} levels", index))
    times: dict[str, int | None] = {}
    for name in ("occurred_at", "started_at", "ended_at"):
        value = getattr(body, name)
        try:
            times[name] = None if value is None else parse_rfc3339(value)
        except TimestampError as exc:
            problems.append(FieldProblem(name, str(exc), index))
    if problems:
        return None, problems
    dimensions: dict[str, str | int] = {
        name: value for name in TEXT_DIMENSIONS if (value := getattr(body, name)) is not None
    }
    if body.priority is not None:
        dimensions["priority"] = body.priority
    if body.impact is not None:
        dimensions["impact"] = body.impact
    payload: JSONObject = body.payload
    return (
        NewEvent(
            type=event_type,
            payload=payload,
            trigger_id=body.trigger,
            source_id=body.source,
            source_ref=body.source_ref,
            config=body.config,
            title=body.title,
            message=body.message,
            dimensions=dimensions,
            links=dict(body.links or {}),
            related_id=body.related_id,
            stakeholders=tuple(body.stakeholders or ()),
            allowed_groups=tuple(dict.fromkeys(body.allowed_groups or ())),
            allowed_roles=tuple(dict.fromkeys(body.allowed_roles or ())),
            username=body.username,
            occurred_at=times["occurred_at"],
            started_at=times["started_at"],
            ended_at=times["ended_at"],
        ),
        [],
    )


def summary_json(item: EventSummary) -> dict[str, Any]:
    """Attune's list-view rendering."""
    return {
        "id": item.id,
        "trigger": item.trigger_id,
        "trigger_ref": item.type,
        "source": item.source_id,
        "source_ref": item.source_ref,
        "has_payload": item.has_payload,
        "created": format_rfc3339(item.occurred_at),
    }
