"""Rules (001_…txt): create, read, update, enable, disable, delete and test.

A rule is checked in full when it is saved, so nothing about it can fail silently at run time:
its ref's spelling, its condition (compiled here; a `ConditionError` becomes a 400 naming the JSON
path of the bad node), and its `action_params` templates (syntax-checked). Its pack, action and
trigger must exist in the caller's tenant. Every change bumps the tenant's catalogue version in
its own transaction (storage does it), so every node picks the change up on its next event.

Testing a rule (a Tidings extension) is a dry run through the rule engine's own compiled
catalogue and its pure `decide`/`render`, so what it answers is what an event would do; nothing
is recorded or run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require
from tidings.domain.automation import Action, ConditionOutcome, Pack, Rule, Trigger, ref_problem
from tidings.domain.clock import Clock
from tidings.domain.conditions import ConditionError, compile_condition
from tidings.domain.enforcement_ids import MAX_RULES_PER_TRIGGER
from tidings.domain.errors import Conflict, FieldProblem, InvalidInput, NotFound
from tidings.domain.evaluation import CompiledRule, decide, event_view, render
from tidings.domain.json import JSONObject, JSONValue, depth_exceeds
from tidings.domain.templates import TemplateError, compile_params
from tidings.domain.timestamps import format_rfc3339
from tidings.services.database import Database
from tidings.services.event_queries import visible_event
from tidings.services.rule_engine import RuleEngine
from tidings.services.secret_box import SecretBox
from tidings.storage import catalogue as catalogue_store
from tidings.storage import rules as rule_store

# Conditions and parameters are compiled recursively; this bounds the recursion well inside
# Python's stack (and matches the default nesting limit of event payloads).
MAX_RULE_DEPTH = 32


@dataclass(frozen=True)
class NewRule:
    """A rule to create, as the caller named its parts."""

    ref: str
    pack_ref: str
    label: str
    description: str
    action_ref: str
    trigger_ref: str
    conditions: JSONObject
    action_params: JSONObject
    enabled: bool = True
    strict_params: bool = False


@dataclass(frozen=True)
class RuleChanges:
    """The fields an update may change; None leaves a field as it is."""

    label: str | None = None
    description: str | None = None
    conditions: JSONObject | None = None
    action_params: JSONObject | None = None
    enabled: bool | None = None
    strict_params: bool | None = None


@dataclass(frozen=True)
class SampleEvent:
    """A made-up event to test a rule with: a payload, and any event fields (`type`, …)."""

    payload: JSONObject
    fields: JSONObject


@dataclass(frozen=True)
class RuleTrial:
    """What a rule would do with one event (its condition, clauses and rendered parameters)."""

    rule: str
    enabled: bool
    condition: ConditionOutcome
    matched: bool
    conditions: dict[str, bool]
    action_ref: str
    parameters: JSONValue
    errors: list[str]


@dataclass(frozen=True)
class RulePage:
    """One page of rules, ordered by id, with the total of the whole list."""

    items: list[Rule]
    total: int


def check_rule_parts(
    *, ref: str | None, conditions: JSONObject | None, action_params: JSONObject | None
) -> None:
    """Raise InvalidInput naming every part of a rule that could not run as written."""
    problems: list[FieldProblem] = []
    if ref is not None and (problem := ref_problem(ref)):
        problems.append(FieldProblem("ref", problem))
    for name, value in (("conditions", conditions), ("action_params", action_params)):
        if value is not None and depth_exceeds(value, MAX_RULE_DEPTH):
            problems.append(FieldProblem(name, f"nests deeper than {MAX_RULE_DEPTH} levels"))
    if not problems and conditions is not None:
        try:
            compile_condition(conditions)
        except ConditionError as error:
            problems.append(FieldProblem("conditions", f"{error.path}: {error.message}"))
    if not problems and action_params is not None:
        try:
            compile_params(action_params)
        except TemplateError as error:
            problems.append(FieldProblem("action_params", f"{error.path}: {error.message}"))
    if problems:
        raise InvalidInput.of(*problems)


def sample_view(sample: SampleEvent, *, rule: Rule, now: int) -> JSONObject:
    """A sample event as conditions and templates see it, shaped like `event_view`'s."""
    stamp = format_rfc3339(now)
    view: JSONObject = dict(sample.payload)
    view.update(
        {
            "type": rule.trigger_ref,
            "trigger": rule.trigger_id,
            "trigger_ref": rule.trigger_ref,
            "created": stamp,
            "occurred_at": stamp,
            "recorded_at": stamp,
        }
    )
    view.update({k: v for k, v in sample.fields.items() if v is not None})
    if "type" in sample.fields and "trigger_ref" not in sample.fields:
        view["trigger_ref"] = view["type"]
    view["payload"] = sample.payload
    return view


async def _pack(conn: AsyncConnection, tenant_id: int, ref: str) -> Pack:
    pack = await catalogue_store.find_pack(conn, tenant_id=tenant_id, ref=ref)
    if pack is None:
        raise NotFound(f"Pack '{ref}' not found")
    return pack


async def _action(conn: AsyncConnection, tenant_id: int, ref: str) -> Action:
    action = await catalogue_store.find_action(conn, tenant_id=tenant_id, ref=ref)
    if action is None:
        raise NotFound(f"Action '{ref}' not found")
    return action


async def check_trigger_room(conn: AsyncConnection, *, tenant_id: int, trigger: Trigger) -> None:
    """Conflict when the trigger already has the most rules one trigger can have (enforcement
    ids number the rules of a trigger: domain/enforcement_ids.py)."""
    count = await rule_store.rules_on_trigger(conn, tenant_id=tenant_id, trigger_id=trigger.id)
    if count >= MAX_RULES_PER_TRIGGER:
        raise Conflict(
            f"Trigger '{trigger.ref}' already has {MAX_RULES_PER_TRIGGER} rules, "
            "the most one trigger can have"
        )


async def _trigger(conn: AsyncConnection, tenant_id: int, ref: str) -> Trigger:
    trigger = await catalogue_store.find_trigger(conn, tenant_id=tenant_id, ref=ref)
    if trigger is None:
        raise NotFound(f"Trigger '{ref}' not found")
    return trigger


async def existing_rule(conn: AsyncConnection, *, tenant_id: int, ref: str) -> Rule:
    """The rule, or NotFound `Rule 'x' not found`."""
    rule = await rule_store.find_rule(conn, tenant_id=tenant_id, ref=ref)
    if rule is None:
        raise NotFound(f"Rule '{ref}' not found")
    return rule


class RuleAdmin:
    """Rules (001_…txt): create, read, update, enable, disable, delete and test."""

    def __init__(self, db: Database, *, clock: Clock, box: SecretBox, engine: RuleEngine) -> None:
        self._db = db
        self._clock = clock
        self._box = box
        # Dry runs use ingest's engine: the same compiled catalogue, cached once per process.
        self._engine = engine

    @asynccontextmanager
    async def _changing(self, ref: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._db.transaction() as conn:
                yield conn
        except IntegrityError:  # a concurrent create of the same ref won the race
            raise Conflict(f"Rule with ref '{ref}' already exists") from None

    async def list_rules(
        self,
        principal: Principal,
        *,
        page: int,
        per_page: int,
        enabled_only: bool = False,
        pack_ref: str | None = None,
        action_ref: str | None = None,
        trigger_ref: str | None = None,
    ) -> RulePage:
        """A page of the tenant's rules by id, optionally of one pack, action or trigger."""
        require(principal, Permission.AUTOMATION_READ)
        tenant_id = principal.tenant_id
        async with self._db.read() as conn:
            pack = None if pack_ref is None else await _pack(conn, tenant_id, pack_ref)
            action = None if action_ref is None else await _action(conn, tenant_id, action_ref)
            trigger = None if trigger_ref is None else await _trigger(conn, tenant_id, trigger_ref)
            items, total = await rule_store.list_rules(
                conn,
                tenant_id=tenant_id,
                offset=(page - 1) * per_page,
                limit=per_page,
                pack_id=None if pack is None else pack.id,
                action_id=None if action is None else action.id,
                trigger_id=None if trigger is None else trigger.id,
                enabled=True if enabled_only else None,
            )
        return RulePage(items, total)

    async def get_rule(self, principal: Principal, *, ref: str) -> Rule:
        """One rule of the tenant, or NotFound."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            return await existing_rule(conn, tenant_id=principal.tenant_id, ref=ref)

    async def create_rule(self, principal: Principal, *, rule_in: NewRule) -> Rule:
        """A new rule: 400 if it cannot run as written, 404 for a missing part, 409 if taken."""
        require(principal, Permission.RULES_WRITE)
        check_rule_parts(
            ref=rule_in.ref, conditions=rule_in.conditions, action_params=rule_in.action_params
        )
        tenant_id = principal.tenant_id
        async with self._changing(rule_in.ref) as conn:
            pack = await _pack(conn, tenant_id, rule_in.pack_ref)
            action = await _action(conn, tenant_id, rule_in.action_ref)
            trigger = await _trigger(conn, tenant_id, rule_in.trigger_ref)
            if await rule_store.find_rule(conn, tenant_id=tenant_id, ref=rule_in.ref):
                raise Conflict(f"Rule with ref '{rule_in.ref}' already exists")
            await check_trigger_room(conn, tenant_id=tenant_id, trigger=trigger)
            values = {
                "ref": rule_in.ref,
                "pack_id": pack.id,
                "action_id": action.id,
                "trigger_id": trigger.id,
                "label": rule_in.label,
                "description": rule_in.description,
                "conditions": rule_in.conditions,
                "action_params": rule_in.action_params,
                "enabled": rule_in.enabled,
                "strict_params": rule_in.strict_params,
            }
            return await rule_store.insert_rule(
                conn, tenant_id=tenant_id, values=values, now=self._clock.now_ns()
            )

    async def update_rule(self, principal: Principal, *, ref: str, changes: RuleChanges) -> Rule:
        """Change the given fields only; with none given the rule is returned unchanged."""
        require(principal, Permission.RULES_WRITE)
        check_rule_parts(
            ref=None, conditions=changes.conditions, action_params=changes.action_params
        )
        values = {k: v for k, v in vars(changes).items() if v is not None}
        return await self._change(principal, ref, values)

    async def set_enabled(self, principal: Principal, *, ref: str, enabled: bool) -> Rule:
        """Enable or disable a rule (already in that state: only `updated` moves)."""
        require(principal, Permission.RULES_WRITE)
        return await self._change(principal, ref, {"enabled": enabled})

    async def delete_rule(self, principal: Principal, *, ref: str) -> None:
        """Remove a rule; its enforcements and executions stay as history."""
        require(principal, Permission.RULES_WRITE)
        async with self._changing(ref) as conn:
            rule = await existing_rule(conn, tenant_id=principal.tenant_id, ref=ref)
            await rule_store.delete_rule(conn, tenant_id=principal.tenant_id, rule_id=rule.id)

    async def _change(self, principal: Principal, ref: str, values: dict[str, object]) -> Rule:
        async with self._changing(ref) as conn:
            rule = await existing_rule(conn, tenant_id=principal.tenant_id, ref=ref)
            if not values:
                return rule
            return await rule_store.update_rule(
                conn,
                tenant_id=principal.tenant_id,
                rule_id=rule.id,
                values=values,
                now=self._clock.now_ns(),
            )

    async def test_rule(
        self,
        principal: Principal,
        *,
        ref: str,
        sample: SampleEvent | None = None,
        event_id: int | None = None,
    ) -> RuleTrial:
        """Evaluate a rule (even a disabled one) against a sample or a visible stored event."""
        require(principal, Permission.AUTOMATION_READ)
        if event_id is not None:
            require(principal, Permission.EVENTS_READ)
        tenant_id = principal.tenant_id
        now = self._clock.now_ns()
        async with self._db.read() as conn:
            rule = await existing_rule(conn, tenant_id=tenant_id, ref=ref)
            if event_id is not None:
                event = await visible_event(conn, principal=principal, event_id=event_id)
                view, event_ref = event_view(event), event.id
            else:
                view = sample_view(sample or SampleEvent({}, {}), rule=rule, now=now)
                event_ref = None
            catalogue = await self._engine.catalogue(conn, tenant_id)
        compiled = _compiled(rule, catalogue.rules.get(rule.trigger_ref, []))
        pack = catalogue.packs[rule.pack_id]
        decision = decide(replace(compiled, enabled=True), view, pack=pack)
        passed = decision.outcome is ConditionOutcome.PASSED
        parameters: JSONValue = None
        errors: list[str] = []
        if passed:
            system: dict[str, JSONValue] = {
                "timestamp": format_rfc3339(now),
                "tenant": principal.tenant_locator,
                "rule": rule.ref,
                "enforcement": None,
                "event": event_ref,
            }
            rendered = render(compiled, view, pack=pack, system=system)
            parameters = rendered.shown
            errors = [] if rendered.error is None else [rendered.error]
        return RuleTrial(
            rule=rule.ref,
            enabled=rule.enabled,
            condition=decision.outcome,
            matched=passed and rule.enabled,
            conditions=decision.clauses,
            action_ref=rule.action_ref,
            parameters=parameters,
            errors=errors,
        )


def _compiled(rule: Rule, candidates: list[CompiledRule]) -> CompiledRule:
    """The engine's compiled form of `rule` (a 400 naming the path if it no longer compiles)."""
    for compiled in candidates:
        if compiled.id == rule.id:
            return compiled
    check_rule_parts(
        ref=None, conditions=_object(rule.conditions), action_params=_object(rule.action_params)
    )
    raise Conflict(f"Rule '{rule.ref}' changed while it was being tested; try again")


def _object(value: JSONValue) -> JSONObject:
    return value if isinstance(value, dict) else {}
