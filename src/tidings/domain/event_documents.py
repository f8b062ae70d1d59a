"""An event as a JSON document: Tidings' native (Attune-compatible) shape, and EscapeKit's.

The API's event views and the body of a webhook delivery are the same document, so it lives in
the core: the API renders it for readers, and the delivery worker for subscribers, from one
definition. EscapeKit's subscriptions receive EscapeKit's Event, as its own API shows it.
"""

from __future__ import annotations

from typing import Any

from tidings.domain.events import INT_DIMENSIONS, TEXT_DIMENSIONS, Event
from tidings.domain.timestamps import format_rfc3339


def _ts(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)


def event_json(event: Event) -> dict[str, Any]:
    """The full native (Attune-compatible) rendering of an event."""
    out: dict[str, Any] = {
        "id": event.id,
        "trigger": event.trigger_id,
        "trigger_ref": event.type,
        "type": event.type,
        "config": event.config,
        "payload": event.payload,
        "source": event.source_id,
        "source_ref": event.source_ref,
        "title": event.title,
        "message": event.message,
    }
    for name in (*TEXT_DIMENSIONS, *INT_DIMENSIONS):
        out[name] = event.dimensions.get(name)
    occurred = format_rfc3339(event.occurred_at)
    recorded = format_rfc3339(event.recorded_at)
    out.update(
        {
            "links": event.links or None,
            "related_id": event.related_id,
            "stakeholders": list(event.stakeholders) or None,
            "allowed_groups": list(event.allowed_groups) or None,
            "allowed_roles": list(event.allowed_roles) or None,
            "username": event.username,
            "actor": event.actor_locator,
            "request_id": event.request_id,
            "occurred_at": occurred,
            "recorded_at": recorded,
            "started_at": _ts(event.started_at),
            "ended_at": _ts(event.ended_at),
            "created": occurred,
            "updated": recorded if event.updated_at == event.recorded_at else _ts(event.updated_at),
        }
    )
    return out


# The scope fields, in the alphabetical order the document's examples print keys in.
ESCAPEKIT_SCOPES: tuple[str, ...] = (
    "inventory_application",
    "inventory_namespace",
    "inventory_project",
    "inventory_version",
    "state_deployment",
    "state_environment",
    "state_project",
)


def escapekit_event_json(event: Event) -> dict[str, Any]:
    """The document's Event: keys in alphabetical order, keys without a value left out."""
    out: dict[str, Any] = {}
    if event.allowed_groups:
        out["allowed_groups"] = list(event.allowed_groups)
    if event.allowed_roles:
        out["allowed_roles"] = list(event.allowed_roles)
    if event.payload:
        out["data"] = event.payload
    out["id"] = str(event.id)
    for name in ESCAPEKIT_SCOPES:
        value = event.dimensions.get(name)
        if value is not None:
            out[name] = value
    out["timestamp"] = event.occurred_at
    out["type"] = event.type
    if event.username is not None:
        out["username"] = event.username
    return out
