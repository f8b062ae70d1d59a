"""Changing an event after the fact, as a recorded revision.

Events are facts, but Tracker updates them as they progress (started → succeeded, an end date set).
An update is a patch of named fields; applying it yields the new current view and the list of
changes (field, old, new) that the revision keeps. Deleting keeps a last revision holding the whole
event as it was, so the audit trail outlives the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tidings.domain.json import JSONObject, JSONValue

# Core fields an update may change, grouped by how they are stored.
SCALAR_FIELDS: frozenset[str] = frozenset(
    {
        "type",
        "title",
        "message",
        "source_ref",
        "related_id",
        "service",
        "environment",
        "status",
        "owner",
        "priority",
        "impact",
        "started_at",
        "ended_at",
    }
)
LIST_FIELDS: frozenset[str] = frozenset({"stakeholders"})
# Required fields of every event: an update may change them but never clear them.
REQUIRED_FIELDS: frozenset[str] = frozenset({"type"})


class RevisionKind(StrEnum):
    """What a revision records."""

    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class FieldChange:
    """One field's value before and after; nested keys read `links.ticket`, `payload.x`."""

    field: str
    old: JSONValue
    new: JSONValue

    def as_dict(self) -> JSONObject:
        """The stored and rendered form."""
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class EventPatch:
    """A partial update: absent fields stay as they are.

    `fields` sets core fields (None clears one); `links` and `payload` merge key by key, a None
    value removing the key.
    """

    fields: dict[str, JSONValue] = field(default_factory=dict)
    links: dict[str, str | None] = field(default_factory=dict)
    payload: dict[str, JSONValue] = field(default_factory=dict)

    def problems(self) -> list[tuple[str, str]]:
        """Fields this patch may not touch, as (field, reason)."""
        found: list[tuple[str, str]] = []
        for name, value in self.fields.items():
            if name not in SCALAR_FIELDS and name not in LIST_FIELDS:
                found.append((name, "cannot be changed by an update"))
            elif name in REQUIRED_FIELDS and value is None:
                found.append((name, "is required and cannot be cleared"))
        return found

    @property
    def is_empty(self) -> bool:
        """An update that names nothing to change."""
        return not (self.fields or self.links or self.payload)


@dataclass(frozen=True)
class Revision:
    """One recorded change of an event."""

    event_id: int
    number: int
    kind: RevisionKind
    actor_locator: str | None
    actor_name: str | None
    changed_at: int
    changes: tuple[FieldChange, ...]


def _merged(
    current: dict[str, JSONValue], updates: dict[str, JSONValue], prefix: str
) -> tuple[dict[str, JSONValue], list[FieldChange]]:
    merged = dict(current)
    changes: list[FieldChange] = []
    for key, value in updates.items():
        old = current.get(key)
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
        if old != value:
            changes.append(FieldChange(f"{prefix}.{key}", old, value))
    return merged, changes


def plan_update(
    current: dict[str, JSONValue],
    links: dict[str, str],
    payload: JSONObject,
    patch: EventPatch,
) -> tuple[dict[str, JSONValue], list[FieldChange]]:
    """The column values to write and the changes to record; unchanged fields are left out.

    `current` holds the event's present values of the patchable fields.
    """
    values: dict[str, JSONValue] = {}
    changes: list[FieldChange] = []
    for name, new in patch.fields.items():
        old = current.get(name)
        if old != new:
            values[name] = new
            changes.append(FieldChange(name, old, new))
    if patch.links:
        link_values: dict[str, JSONValue] = dict(links)
        merged_links, link_changes = _merged(link_values, dict(patch.links), "links")
        if link_changes:
            values["links"] = merged_links
            changes.extend(link_changes)
    if patch.payload:
        merged_payload, payload_changes = _merged(payload, patch.payload, "payload")
        if payload_changes:
            values["payload"] = merged_payload
            changes.extend(payload_changes)
    return values, changes
