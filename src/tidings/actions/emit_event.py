"""`emit_event`: record a new event, described by the action's parameters.

The parameters take the fields of `POST /api/v1/events` (`trigger_ref` or `type`, `payload`,
`title`, `message`, the dimensions, `links`, `allowed_groups`, timestamps, …) and are checked
the way that endpoint checks its body, with the same limits, so an event emitted by a rule is
indistinguishable from one posted by a producer. The checks are restated here rather than shared:
the API's pydantic model lives in the API layer, which actions sit below.
"""

from __future__ import annotations

from tidings.actions.runner import ActionContext, ActionFailed
from tidings.domain.events import (
    GROUP_PATTERN,
    IMPACT_RANGE,
    PRIORITY_RANGE,
    TEXT_DIMENSIONS,
    TYPE_PATTERN,
    TYPE_RULE,
    EventLimits,
    NewEvent,
)
from tidings.domain.json import JSONObject, JSONValue, depth_exceeds
from tidings.domain.timestamps import TimestampError, parse_rfc3339

LIMITS = EventLimits()
MAX_ID = 2**63 - 1
_INT_RANGES = {"priority": PRIORITY_RANGE, "impact": IMPACT_RANGE}
_TEXTS = {
    "title": LIMITS.max_title_chars,
    "message": LIMITS.max_message_chars,
    "source_ref": LIMITS.max_dimension_chars,
    "related_id": LIMITS.max_dimension_chars,
    "username": LIMITS.max_dimension_chars,
}
_LISTS = ("stakeholders", "allowed_groups", "allowed_roles")
_TIMES = ("occurred_at", "started_at", "ended_at")
_IDS = ("trigger", "source")
KNOWN = frozenset(
    {"type", "trigger_ref", "payload", "config", "links", *_TEXTS, *TEXT_DIMENSIONS}
    | {*_INT_RANGES, *_LISTS, *_TIMES, *_IDS}
)


def _refuse(message: str) -> ActionFailed:
    return ActionFailed(message, retryable=False)


async def run_emit_event(ctx: ActionContext) -> JSONValue:
    """Record the event in the execution's tenant; its rules are evaluated as for any event."""
    event_id = await ctx.emit(event_from_parameters(ctx.parameters))
    return {"event_id": event_id}


def event_from_parameters(params: JSONObject) -> NewEvent:
    """The event the parameters describe, or a non-retryable failure naming the bad one."""
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise _refuse(f"unknown parameter '{unknown[0]}': an event has no such field")
    event_type = params.get("trigger_ref", params.get("type"))
    if not isinstance(event_type, str) or not TYPE_PATTERN.match(event_type):
        raise _refuse(f"parameter 'trigger_ref' must be {TYPE_RULE}")
    texts = {name: _text(params, name, limit) for name, limit in _TEXTS.items()}
    lists = {name: _names(params, name) for name in _LISTS}
    times = {name: _time(params, name) for name in _TIMES}
    ids = {name: _id(params, name) for name in _IDS}
    return NewEvent(
        type=event_type,
        payload=_document(params, "payload") or {},
        config=_document(params, "config"),
        trigger_id=ids["trigger"],
        source_id=ids["source"],
        source_ref=texts["source_ref"],
        title=texts["title"],
        message=texts["message"],
        related_id=texts["related_id"],
        username=texts["username"],
        dimensions=_dimensions(params),
        links=_links(params.get("links")),
        stakeholders=lists["stakeholders"],
        allowed_groups=tuple(dict.fromkeys(lists["allowed_groups"])),
        allowed_roles=tuple(dict.fromkeys(lists["allowed_roles"])),
        occurred_at=times["occurred_at"],
        started_at=times["started_at"],
        ended_at=times["ended_at"],
    )


def _document(params: JSONObject, name: str) -> JSONObject | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _refuse(f"parameter '{name}' must be a JSON object")
    if depth_exceeds(value, LIMITS.max_payload_depth):
        raise _refuse(f"parameter '{name}' nests deeper than {LIMITS.max_payload_depth} levels")
    return value


def _text(params: JSONObject, name: str, limit: int) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _refuse(f"parameter '{name}' must be a string of at most {limit} characters")
    return value


def _names(params: JSONObject, name: str) -> tuple[str, ...]:
    value = params.get(name)
    if value is None:
        return ()
    names = value if isinstance(value, list) else None
    if (
        names is None
        or len(names) > LIMITS.max_list_items
        or not all(_is_name(name, item) for item in names)
    ):
        raise _refuse(f"parameter '{name}' must be a list of at most {LIMITS.max_list_items} names")
    return tuple(item for item in names if isinstance(item, str))


def _is_name(name: str, item: JSONValue) -> bool:
    if not isinstance(item, str) or not 0 < len(item) <= LIMITS.max_dimension_chars:
        return False
    return name == "stakeholders" or GROUP_PATTERN.match(item) is not None


def _time(params: JSONObject, name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _refuse(f"parameter '{name}' must be an RFC 3339 date-time")
    try:
        return parse_rfc3339(value)
    except TimestampError as exc:
        raise _refuse(f"parameter '{name}': {exc}") from exc


def _id(params: JSONObject, name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise _refuse(f"parameter '{name}' must be a positive integer id")
    return value


def _dimensions(params: JSONObject) -> dict[str, str | int]:
    dimensions: dict[str, str | int] = {}
    for name in TEXT_DIMENSIONS:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not 0 < len(value) <= LIMITS.max_dimension_chars:
            raise _refuse(
                f"parameter '{name}' must be a string of 1-{LIMITS.max_dimension_chars} characters"
            )
        dimensions[name] = value
    for name, (low, high) in _INT_RANGES.items():
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _refuse(f"parameter '{name}' must be an integer from {low} to {high}")
        dimensions[name] = value
    return dimensions


def _links(value: JSONValue) -> dict[str, str]:
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or len(value) > LIMITS.max_list_items
        or not all(isinstance(v, str) and len(v) <= 2048 for v in value.values())
    ):
        raise _refuse(f"parameter 'links' must map at most {LIMITS.max_list_items} names to URLs")
    return {k: v for k, v in value.items() if isinstance(v, str)}
