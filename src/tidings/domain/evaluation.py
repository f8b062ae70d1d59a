"""Evaluating the rules of a trigger against one event, as a pure decision.

The rule engine (services/rule_engine.py) compiles each rule once — its condition into closures
(`conditions.py`), its `action_params` into sandboxed templates (`templates.py`) — and calls
`evaluate` for every event of the rule's trigger inside the event's own transaction. What comes
back says, for each rule, whether it passed, failed or was skipped, why (each clause's result),
and the parameters to run its action with. Nothing here touches the database.

The context (DESIGN.md, "Conditions and templates"): the payload's keys at the top level, and
`event` — the event's own fields where it has a value, otherwise the payload's field of that name,
plus `payload` itself — so both `{"var": "cpu_percent"}` and `{"var": "event.severity"}` from
001_…txt read the payload. `trigger`, `rule` and `pack` (its non-secret config) are there too;
these four names win over payload keys of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from tidings.domain.automation import ConditionOutcome
from tidings.domain.conditions import Condition
from tidings.domain.events import INT_DIMENSIONS, TEXT_DIMENSIONS, Event
from tidings.domain.json import JSONObject, JSONValue
from tidings.domain.redaction import redact, redact_text
from tidings.domain.templates import CompiledParams, TemplateError
from tidings.domain.timestamps import format_rfc3339


@dataclass(frozen=True)
class ActionSpec:
    """What a rule runs: the action's identity and how its executions are bounded."""

    id: int
    ref: str
    runner: str
    entry_point: str | None
    timeout_seconds: float | None
    max_attempts: int | None


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to evaluate many events."""

    id: int
    ref: str
    pack_id: int
    pack_ref: str
    trigger_id: int
    trigger_ref: str
    enabled: bool
    strict_params: bool
    condition: Condition
    params: CompiledParams
    action: ActionSpec


@dataclass(frozen=True)
class PackConfig:
    """A pack's config as templates see it: `config` holds the secrets in clear; `masked_config`
    the same with every secret replaced by ********; `secrets` are the secret values."""

    config: JSONObject
    public_config: JSONObject
    secrets: frozenset[str]
    masked_config: JSONObject | None = None


class Decision(NamedTuple):
    """One rule's verdict on one event: the outcome and each clause's result.

    A named tuple rather than a frozen dataclass: ingest makes one per rule per event (a hundred
    rules, a hundred of these per event), and a tuple is built in C.
    """

    rule: CompiledRule
    outcome: ConditionOutcome
    clauses: dict[str, bool]


@dataclass(frozen=True)
class Rendered:
    """A passed rule's parameters: to run with (secrets in clear), and to store or show."""

    parameters: JSONValue = None
    shown: JSONValue = None
    error: str | None = None


def event_view(event: Event) -> JSONObject:
    """The event as conditions and templates see it (`event.*`)."""
    fields: JSONObject = {
        "id": event.id,
        "type": event.type,
        "trigger": event.trigger_id,
        "trigger_ref": event.type,
        "source": event.source_id,
        "source_ref": event.source_ref,
        "title": event.title,
        "message": event.message,
        "config": event.config,
        "related_id": event.related_id,
        "username": event.username,
        "actor": event.actor_locator,
        "request_id": event.request_id,
        "created": format_rfc3339(event.occurred_at),
        "occurred_at": format_rfc3339(event.occurred_at),
        "recorded_at": format_rfc3339(event.recorded_at),
    }
    for name in (*TEXT_DIMENSIONS, *INT_DIMENSIONS):
        fields[name] = event.dimensions.get(name)
    if event.links:
        fields["links"] = dict(event.links)
    view: JSONObject = dict(event.payload)
    view.update({k: v for k, v in fields.items() if v is not None})
    view["payload"] = event.payload
    return view


def condition_context(
    event_json: JSONObject, *, rule: CompiledRule, pack: JSONObject
) -> JSONObject:
    """What a condition is evaluated against (see the module docstring)."""
    payload = event_json.get("payload")
    context: JSONObject = dict(payload) if isinstance(payload, dict) else {}
    context["event"] = event_json
    context["trigger"] = {"id": rule.trigger_id, "ref": rule.trigger_ref}
    context["rule"] = {"id": rule.id, "ref": rule.ref, "pack_ref": rule.pack_ref}
    context["pack"] = {"ref": rule.pack_ref, "config": pack}
    return context


def decide(
    rule: CompiledRule, event_json: JSONObject, *, pack: PackConfig, explain: bool = True
) -> Decision:
    """Decide one rule for one event: skipped when disabled, else its condition's result."""
    if not rule.enabled:
        return Decision(rule, ConditionOutcome.SKIPPED, {})
    context = condition_context(event_json, rule=rule, pack=pack.public_config)
    if explain:
        passed, clauses = rule.condition.explain(context)
    else:
        passed, clauses = rule.condition.matches(context), {}
    return Decision(rule, ConditionOutcome.PASSED if passed else ConditionOutcome.FAILED, clauses)


def render(
    rule: CompiledRule,
    event_json: JSONObject,
    *,
    pack: PackConfig,
    system: Mapping[str, JSONValue],
) -> Rendered:
    """A passed rule's action parameters, rendered; a template failure is a message."""
    if rule.params.is_static and not pack.secrets:
        value = rule.params.render({}, strict=False)
        return Rendered(value, value)
    context: dict[str, object] = {
        "event": event_json,
        "pack": {"ref": rule.pack_ref, "config": pack.config},
        "system": dict(system),
        "rule": {"id": rule.id, "ref": rule.ref, "pack_ref": rule.pack_ref},
        "trigger": {"id": rule.trigger_id, "ref": rule.trigger_ref},
    }
    try:
        parameters = rule.params.render(context, strict=rule.strict_params)
    except TemplateError as error:
        return Rendered(error=redact_message(str(error), pack.secrets))
    if not pack.secrets:
        return Rendered(parameters, parameters)
    return Rendered(parameters, _shown(rule, context, pack, parameters))


def _shown(
    rule: CompiledRule, context: dict[str, object], pack: PackConfig, parameters: JSONValue
) -> JSONValue:
    """The parameters as stored and shown: rendered again with every secret masked.

    Masking the rendered output alone misses a secret the template transformed (`| upper`,
    `| b64encode`, a slice); rendering with `********` in place of each secret cannot leak one.
    Exact-value redaction runs on top, in case a secret also arrived another way (the payload).
    """
    masked = dict(context)
    masked["pack"] = {"ref": rule.pack_ref, "config": pack.masked_config or pack.public_config}
    try:
        shown = rule.params.render(masked, strict=False)
    except TemplateError:
        shown = parameters
    return redact(shown, pack.secrets)


def redact_message(message: str, secrets: frozenset[str]) -> str:
    """An error message with every secret hidden (a template may echo a secret value)."""
    return redact_text(message, secrets)


def schema_defaults(schema: JSONValue) -> JSONObject:
    """The top-level `default` of each property of an action's parameter schema."""
    if not isinstance(schema, dict) or not isinstance(props := schema.get("properties"), dict):
        return {}
    return {
        name: spec["default"]
        for name, spec in props.items()
        if isinstance(spec, dict) and "default" in spec
    }


def with_defaults(rendered: Rendered, defaults: JSONObject | None) -> Rendered:
    """Rendered parameters completed with the action's defaults for what the rule left out.

    StackStorm's action parameters work this way, and it lets a rule written as 001_…txt shows
    it (no `action_params`) run an action whose schema supplies what it needs.
    """
    if not defaults or rendered.error is not None:
        return rendered
    real, shown = rendered.parameters, rendered.shown
    if not isinstance(real, dict) or not isinstance(shown, dict):
        return rendered
    return Rendered({**defaults, **real}, {**defaults, **shown})
