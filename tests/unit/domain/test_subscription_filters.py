"""Subscription filters: event types and prefixes, scope fields, a JsonLogic condition."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.domain.evaluation import event_view
from tidings.domain.events import Event, NewEvent, materialize
from tidings.domain.json import JSONObject
from tidings.domain.subscription_filters import FilterError, build_filter

NOW = 1_705_312_800_000_000_000


def event(type_: str = "deployment.finished", **dimensions: Any) -> Event:
    payload: JSONObject = {"version": "2.1.0", "replicas": 3}
    new = NewEvent(type=type_, title="Deploy", payload=payload, dimensions=dimensions)
    return materialize(
        new, event_id=7, tenant_id=1, actor_id=None, actor_locator=None, request_id=None, now=NOW
    )


def passes(e: Event, **spec: Any) -> bool:
    return build_filter(**spec).matches(e, event_view(e))


def test_an_empty_filter_takes_everything() -> None:
    assert passes(event())
    assert passes(event(), condition={})


def test_types_exact_and_by_prefix() -> None:
    assert passes(event(), types=["deployment.finished"])
    assert passes(event(), types=["incident", "deployment.*"])
    assert not passes(event(), types=["deployment"])
    assert not passes(event("deploymentx.finished"), types=["deployment.*"])


def test_scope_fields_with_escapekit_aliases() -> None:
    prod = event(state_project="shop", environment="production", priority=1)
    assert passes(prod, scope={"project": ["shop"], "environment": ["production", "staging"]})
    assert passes(prod, scope={"priority": [1, 2]})
    assert not passes(prod, scope={"project": ["other"]})
    assert not passes(event(), scope={"environment": ["production"]})  # absent: no match


def test_a_condition_sees_the_payload_and_the_event() -> None:
    e = event(environment="production")
    assert passes(e, condition={">=": [{"var": "replicas"}, 3]})
    assert passes(e, condition={"==": [{"var": "event.environment"}, "production"]})
    assert not passes(e, condition={"==": [{"var": "version"}, "1.0.0"]})
    assert not passes(e, types=["incident"], condition={">=": [{"var": "replicas"}, 3]})


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"types": ["bad type!"]},
            "filter.types[0]",
            "'bad type!' is not an event type or prefix.*",
        ),
        ({"scope": {"colour": ["red"]}}, "filter.scope.colour", "unknown scope field; use one of"),
        ({"scope": {"project": []}}, "filter.scope.project", "list 1 to 100 values"),
        ({"types": ["t"] * 101}, "filter.types", "at most 100 event types"),
        ({"condition": {"nope": [1]}}, "filter.condition", "nope"),
    ],
)
def test_bad_filters_name_their_part(spec: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        build_filter(**spec)
    assert caught.value.field == field
    assert message in caught.value.message
