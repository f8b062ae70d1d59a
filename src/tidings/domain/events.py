"""The core event: one immutable fact, with the dimensions every dialect filters on.

Each dialect maps its own shape onto `NewEvent` on the way in and renders `Event` on the way out,
so an event written through one dialect reads the same through all the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tidings.domain.json import JSONObject

# Indexed free-text dimensions (string values), in the order the storage layer declares them.
TEXT_DIMENSIONS: tuple[str, ...] = (
    "service",
    "environment",
    "status",
    "owner",
    "inventory_project",
    "inventory_application",
    "inventory_version",
    "inventory_namespace",
    "state_project",
    "state_environment",
    "state_deployment",
)
# Integer dimensions: Tracker's priority (1 = P1 critical .. 5) and impact (1 = low .. 3 = high).
INT_DIMENSIONS: tuple[str, ...] = ("priority", "impact")
PRIORITY_RANGE = (1, 5)
IMPACT_RANGE = (1, 3)

TYPE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,199}$")
TYPE_RULE = "1-200 characters: letters, digits and _ . : / -, starting with a letter or digit"
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,99}$")


@dataclass(frozen=True)
class EventLimits:
    """Structural limits on one event; violations are 400s naming the field."""

    max_payload_depth: int = 32
    max_title_chars: int = 1_000
    max_message_chars: int = 65_536
    max_dimension_chars: int = 255
    max_list_items: int = 100


@dataclass(frozen=True)
class NewEvent:
    """A validated event that is not stored yet. Timestamps are nanoseconds since the epoch."""

    type: str
    payload: JSONObject = field(default_factory=dict)
    trigger_id: int | None = None
    source_id: int | None = None
    source_ref: str | None = None
    config: JSONObject | None = None
    title: str | None = None
    message: str | None = None
    dimensions: dict[str, str | int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    related_id: str | None = None
    stakeholders: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    allowed_roles: tuple[str, ...] = ()
    username: str | None = None
    occurred_at: int | None = None
    started_at: int | None = None
    ended_at: int | None = None

    @property
    def restricted(self) -> bool:
        """An event naming groups or roles is hidden from everyone else."""
        return bool(self.allowed_groups or self.allowed_roles)


@dataclass(frozen=True)
class Event:
    """A stored event as every read path sees it."""

    id: int
    tenant_id: int
    type: str
    payload: JSONObject
    trigger_id: int | None
    source_id: int | None
    source_ref: str | None
    config: JSONObject | None
    title: str | None
    message: str | None
    dimensions: dict[str, str | int]
    links: dict[str, str]
    related_id: str | None
    stakeholders: tuple[str, ...]
    allowed_groups: tuple[str, ...]
    allowed_roles: tuple[str, ...]
    username: str | None
    actor_id: int | None
    actor_locator: str | None
    request_id: str | None
    occurred_at: int
    recorded_at: int
    updated_at: int
    started_at: int | None
    ended_at: int | None

    @property
    def has_payload(self) -> bool:
        """Attune's list view says whether the payload has anything in it."""
        return bool(self.payload)


@dataclass(frozen=True)
class EventFilter:
    """Filters every dialect's list maps onto. Times are inclusive nanosecond bounds."""

    type: str | None = None
    trigger_id: int | None = None
    source_id: int | None = None
    start: int | None = None
    end: int | None = None
    request_id: str | None = None
    # Exact matches on dimensions (`("service", "api")`, `("priority", 1)`), and dimensions that
    # must be set at all (EscapeKit's "inventory events" are those with an inventory project).
    dimensions: tuple[tuple[str, str | int], ...] = ()
    present: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventSummary:
    """The columns a list view needs, without the payload."""

    id: int
    type: str
    trigger_id: int | None
    source_id: int | None
    source_ref: str | None
    has_payload: bool
    occurred_at: int
    recorded_at: int


def summarize(event: Event) -> EventSummary:
    """The list-view summary of a stored event."""
    return EventSummary(
        id=event.id,
        type=event.type,
        trigger_id=event.trigger_id,
        source_id=event.source_id,
        source_ref=event.source_ref,
        has_payload=event.has_payload,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
    )


def materialize(
    new: NewEvent,
    *,
    event_id: int,
    tenant_id: int,
    actor_id: int | None,
    actor_locator: str | None,
    request_id: str | None,
    now: int,
) -> Event:
    """The stored form of `new`, as the insert that gave it `event_id` wrote it."""
    return Event(
        id=event_id,
        tenant_id=tenant_id,
        type=new.type,
        payload=new.payload,
        trigger_id=new.trigger_id,
        source_id=new.source_id,
        source_ref=new.source_ref,
        config=new.config,
        title=new.title,
        message=new.message,
        dimensions=new.dimensions,
        links=new.links,
        related_id=new.related_id,
        stakeholders=new.stakeholders,
        allowed_groups=new.allowed_groups,
        allowed_roles=new.allowed_roles,
        username=new.username,
        actor_id=actor_id,
        actor_locator=actor_locator,
        request_id=request_id,
        occurred_at=new.occurred_at if new.occurred_at is not None else now,
        recorded_at=now,
        updated_at=now,
        started_at=new.started_at,
        ended_at=new.ended_at,
    )
