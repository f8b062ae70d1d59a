"""Which events a subscription receives (issue 5, "Subscriptions and deliveries").

A filter has three parts, all optional, all of which must hold: event types (exact, or a prefix
ending in `.*`, so `deployment.*` takes `deployment.started`), scope fields (each a dimension
such as `project`, `environment` or `service` and the values it may take), and a JsonLogic
condition compiled by the rules' compiler and evaluated against the same view of the event as a
rule's condition (`domain/evaluation.py`: the payload's keys at the top, and `event.*`). An
empty filter receives everything the subscriber may see. Checked when the subscription is
saved (a 400 naming the bad part) and compiled once, since ingest evaluates every subscription
of a tenant for every event, in the event's own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tidings.domain.conditions import Condition, ConditionError, compile_condition
from tidings.domain.events import INT_DIMENSIONS, TEXT_DIMENSIONS, TYPE_PATTERN, Event
from tidings.domain.json import JSONObject, JSONValue

# Scope names a filter may use: the event's indexed dimensions, and the short names EscapeKit's
# subscriptions use for its state scope.
SCOPE_ALIASES = {
    "project": "state_project",
    "application": "inventory_application",
    "version": "inventory_version",
}
SCOPES = frozenset(TEXT_DIMENSIONS) | frozenset(INT_DIMENSIONS) | frozenset(SCOPE_ALIASES)
MAX_TYPES, MAX_VALUES = 100, 100


class FilterError(ValueError):
    """A filter that cannot be used; `field` names the part at fault for the 400."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class SubscriptionFilter:
    """A checked, compiled filter."""

    types: tuple[str, ...] = ()
    scope: Mapping[str, frozenset[str | int]] = field(default_factory=dict)
    condition: Condition | None = None

    def matches(self, event: Event, view: JSONObject) -> bool:
        """Whether `event` (with `view`, its `evaluation.event_view`) passes the filter."""
        if self.types and not any(_type_matches(pattern, event.type) for pattern in self.types):
            return False
        for name, allowed in self.scope.items():
            if event.dimensions.get(SCOPE_ALIASES.get(name, name)) not in allowed:
                return False
        if self.condition is None:
            return True
        payload = view.get("payload")
        context: JSONObject = dict(payload) if isinstance(payload, dict) else {}
        context["event"] = view
        return self.condition.matches(context)


def _type_matches(pattern: str, event_type: str) -> bool:
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def build_filter(
    *,
    types: Sequence[str] = (),
    scope: Mapping[str, Sequence[str | int]] | None = None,
    condition: JSONValue = None,
) -> SubscriptionFilter:
    """Check and compile a filter; FilterError names the first bad part."""
    if len(types) > MAX_TYPES:
        raise FilterError("filter.types", f"at most {MAX_TYPES} event types")
    for i, pattern in enumerate(types):
        name = pattern[:-2] if pattern.endswith(".*") else pattern
        if not TYPE_PATTERN.match(name):
            raise FilterError(f"filter.types[{i}]", f"'{pattern}' is not an event type or prefix.*")
    checked: dict[str, frozenset[str | int]] = {}
    for name, values in (scope or {}).items():
        if name not in SCOPES:
            known = ", ".join(sorted(SCOPES))
            raise FilterError(f"filter.scope.{name}", f"unknown scope field; use one of {known}")
        if not values or len(values) > MAX_VALUES:
            raise FilterError(f"filter.scope.{name}", f"list 1 to {MAX_VALUES} values")
        checked[name] = frozenset(values)
    compiled = None
    if condition is not None and condition != {}:
        try:
            compiled = compile_condition(condition)
        except ConditionError as exc:
            raise FilterError("filter.condition", str(exc)) from exc
    return SubscriptionFilter(tuple(types), checked, compiled)


def filter_from_document(document: JSONObject) -> SubscriptionFilter:
    """A stored filter document, compiled (FilterError when it no longer compiles)."""
    types = document.get("types") or []
    scope = document.get("scope") or {}
    if not isinstance(types, list) or not isinstance(scope, dict):
        raise FilterError("filter", "types must be a list and scope an object")
    checked_scope: dict[str, list[str | int]] = {}
    for name, values in scope.items():
        if not isinstance(values, list):
            raise FilterError(f"filter.scope.{name}", "must be a list of values")
        checked_scope[name] = [v for v in values if isinstance(v, str | int)]
    return build_filter(
        types=[str(t) for t in types], scope=checked_scope, condition=document.get("condition")
    )
