"""Rendering core events in Tracker's shape: codes for names, camelCase, string ids.

An event recorded through another dialect may carry a type, status or environment that Tracker's
tables have no code for (`CREATE_STATE_PROJECT`, `staging`): its code renders as null, and the
core type is always given as `eventType` so nothing is hidden.
"""

from __future__ import annotations

from typing import Any

from tidings.domain.events import Event
from tidings.domain.json import JSONValue
from tidings.domain.revisions import FieldChange, Revision
from tidings.domain.timestamps import format_rfc3339
from tidings.domain.tracker import ENVIRONMENTS, EVENT_TYPES, STATUSES

# Core field -> the Tracker path a revision names it by.
_PATHS: dict[str, str] = {
    "title": "title",
    "type": "attributes.type",
    "status": "attributes.status",
    "environment": "attributes.environment",
    "priority": "attributes.priority",
    "impact": "attributes.impact",
    "service": "attributes.service",
    "owner": "attributes.owner",
    "message": "attributes.message",
    "source_ref": "attributes.source",
    "related_id": "attributes.relatedId",
    "started_at": "attributes.startDate",
    "ended_at": "attributes.endDate",
    "stakeholders": "attributes.stakeHolders",
    "payload.notification": "attributes.notification",
    "payload.notifications": "attributes.notifications",
}
_NAMED = {"type": EVENT_TYPES, "status": STATUSES, "environment": ENVIRONMENTS}


def _ts(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)


def created_json(event: Event) -> dict[str, Any]:
    """The answer to a create: `{id, title, createdAt}`."""
    return {
        "id": str(event.id),
        "title": event.title,
        "createdAt": format_rfc3339(event.occurred_at),
    }


def _tracker_value(field: str, value: JSONValue) -> JSONValue:
    """A core value as Tracker shows it: a code for a name, RFC 3339 for a time."""
    if field in _NAMED:
        return _NAMED[field].code_of(value) if isinstance(value, str) else None
    if field in ("started_at", "ended_at") and isinstance(value, int):
        return format_rfc3339(value)
    return value


def _change_json(change: FieldChange) -> dict[str, JSONValue]:
    return {
        "field": _PATHS.get(change.field, change.field),
        "old": _tracker_value(change.field, change.old),
        "new": _tracker_value(change.field, change.new),
    }


def revision_json(revision: Revision) -> dict[str, Any]:
    """One revision: who, when, and each field's old and new value."""
    return {
        "revision": revision.number,
        "kind": revision.kind.value,
        "by": revision.actor_name,
        "byLocator": revision.actor_locator,
        "at": format_rfc3339(revision.changed_at),
        "changes": [_change_json(c) for c in revision.changes],
    }


def event_json(event: Event, revisions: list[Revision] | None = None) -> dict[str, Any]:
    """A whole event in Tracker's shape, with its revisions when they were asked for."""
    dims = event.dimensions
    status = dims.get("status")
    environment = dims.get("environment")
    attributes: dict[str, Any] = {
        "message": event.message,
        "source": event.source_ref,
        "type": EVENT_TYPES.code_of(event.type),
        "priority": dims.get("priority"),
        "relatedId": event.related_id,
        "service": dims.get("service"),
        "status": STATUSES.code_of(status) if isinstance(status, str) else None,
        "environment": ENVIRONMENTS.code_of(environment) if isinstance(environment, str) else None,
        "impact": dims.get("impact"),
        "startDate": _ts(event.started_at),
        "endDate": _ts(event.ended_at),
        "owner": dims.get("owner"),
        "stakeHolders": list(event.stakeholders),
        "notification": event.payload.get("notification"),
        "notifications": event.payload.get("notifications"),
    }
    rendered: dict[str, Any] = {
        "id": str(event.id),
        "title": event.title,
        "eventType": event.type,
        "attributes": attributes,
        "links": dict(event.links),
        "createdAt": format_rfc3339(event.occurred_at),
        "updatedAt": format_rfc3339(event.updated_at),
    }
    if revisions is not None:
        rendered["revisions"] = [revision_json(r) for r in revisions]
    return rendered
