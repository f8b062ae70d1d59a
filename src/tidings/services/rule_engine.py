"""The rule engine: every rule of an event's trigger, evaluated in the event's own transaction.

Ingest calls it after inserting events and before committing (DESIGN.md, "The flow"), so an
acknowledged event has its enforcements and queued executions in the same commit: nothing can
fall behind, and a crash leaves either all of it or none.

Compiled rules are cached per tenant and checked against the tenant's catalogue version with one
primary-key read inside the same transaction; a rule edited on any node therefore applies from
the next event on, on every node (well inside the one second the issue allows).

A rule that passed gets an enforcement row (it has a lifecycle); the rules of the event that
did not pass go into one compact record (storage/rule_misses.py, domain/enforcement_ids.py), a
fraction of the cost of a row each, and the enforcements API shows both alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import (
    ConditionOutcome,
    EnforcementRecording,
    EnforcementStatus,
    NewExecution,
)
from tidings.domain.conditions import ConditionError, compile_condition
from tidings.domain.enforcement_ids import (
    MAX_RULES_PER_TRIGGER,
    OUTCOME_LETTER,
    POSITION_BITS,
    rule_set_digest,
)
from tidings.domain.evaluation import (
    ActionSpec,
    CompiledRule,
    Decision,
    PackConfig,
    Rendered,
    decide,
    event_view,
    render,
    schema_defaults,
    with_defaults,
)
from tidings.domain.events import Event
from tidings.domain.json import JSONObject, JSONValue
from tidings.domain.redaction import REDACTED, redact_text
from tidings.domain.templates import TemplateError, compile_params
from tidings.domain.timestamps import format_rfc3339
from tidings.services.execution_dispatch import Handoff, write_executions
from tidings.services.secret_box import SecretBox, SecretUnreadable
from tidings.services.subscription_matcher import load_subscriptions
from tidings.services.tenant_catalogue import (
    TenantCatalogue,
    TriggerEntry,
    json_path,
    resolve_rule_sets,
)
from tidings.storage import enforcements as enforcement_store
from tidings.storage import rule_misses
from tidings.storage.automation_tables import actions, catalogue_versions, packs, rules, triggers
from tidings.storage.tables import tenants

log = structlog.get_logger(__name__)

PACK_SECRETS = "pack-config"
EXECUTION_SECRETS = "execution-parameters"


@dataclass(frozen=True)
class ExecutionDefaults:
    """Bounds for actions that set none of their own."""

    timeout_seconds: float = 30.0
    max_attempts: int = 3


# What an evaluation's enforcement row says, by outcome (looked up, not computed, per row).
_OUTCOME = {outcome: outcome.value for outcome in ConditionOutcome}
_ENFORCEMENT_STATUS = {
    outcome: EnforcementStatus.COMPLETED.value for outcome in ConditionOutcome
} | {ConditionOutcome.PASSED: EnforcementStatus.SCHEDULED.value}


@dataclass(frozen=True)
class EnforceResult:
    """What one call of `enforce` recorded: enforcements, and executions left on the queue for
    any worker to claim (not those handed to the local pool)."""

    enforcements: int
    executions: int


class RuleEngine:
    """Keeps compiled catalogues and turns events into enforcements and executions."""

    def __init__(self, *, box: SecretBox, defaults: ExecutionDefaults) -> None:
        self._box = box
        self._defaults = defaults
        self._cache: dict[int, TenantCatalogue] = {}

    def cached(self, tenant_id: int) -> TenantCatalogue | None:
        """The last catalogue loaded for a tenant (possibly stale: a pre-check only)."""
        return self._cache.get(tenant_id)

    async def catalogue(self, conn: AsyncConnection, tenant_id: int) -> TenantCatalogue:
        """The tenant's catalogue as this transaction sees it, compiled once per version."""
        query = (
            select(tenants.c.enforcement_recording, catalogue_versions.c.version)
            .select_from(tenants)
            .outerjoin(catalogue_versions, catalogue_versions.c.tenant_id == tenants.c.id)
            .where(tenants.c.id == tenant_id)
        )
        row = (await conn.execute(query)).one()
        version = int(row.version or 0)
        recording = EnforcementRecording(row.enforcement_recording)
        cached = self._cache.get(tenant_id)
        if cached is None or cached.version != version or cached.recording != recording:
            cached = await self._load(conn, tenant_id, version, recording)
            self._cache[tenant_id] = cached
        if cached.unconfirmed and recording is EnforcementRecording.ALL:
            await resolve_rule_sets(conn, tenant_id, cached)
        return cached

    async def _load(
        self, conn: AsyncConnection, tenant_id: int, version: int, recording: EnforcementRecording
    ) -> TenantCatalogue:
        catalogue = TenantCatalogue(version=version, recording=recording)
        for row in await conn.execute(
            select(packs.c.id, packs.c.config, packs.c.secrets).where(
                packs.c.tenant_id == tenant_id
            )
        ):
            catalogue.packs[row.id] = self._pack_config(tenant_id, row.config, row.secrets)
        for row in await conn.execute(
            select(triggers.c.ref, triggers.c.id, triggers.c.payload_schema).where(
                triggers.c.tenant_id == tenant_id
            )
        ):
            validator = None
            if row.payload_schema:
                validator = jsonschema_rs.validator_for(row.payload_schema, offline=True)
            catalogue.triggers[row.ref] = TriggerEntry(row.id, validator)
        query = (
            select(
                rules,
                packs.c.ref.label("pack_ref"),
                triggers.c.ref.label("trigger_ref"),
                actions.c.ref.label("action_ref"),
                actions.c.runner,
                actions.c.entry_point,
                actions.c.timeout_seconds,
                actions.c.max_attempts,
                actions.c.parameters_schema,
            )
            .join(packs, packs.c.id == rules.c.pack_id)
            .join(triggers, triggers.c.id == rules.c.trigger_id)
            .join(actions, actions.c.id == rules.c.action_id)
            .where(rules.c.tenant_id == tenant_id)
            .order_by(rules.c.id)
        )
        for row in await conn.execute(query):
            compiled = _compile(row)
            if compiled is not None:
                catalogue.rules.setdefault(compiled.trigger_ref, []).append(compiled)
            if row.parameters_schema and row.action_id not in catalogue.parameter_validators:
                catalogue.parameter_defaults[row.action_id] = schema_defaults(row.parameters_schema)
                catalogue.parameter_validators[row.action_id] = jsonschema_rs.validator_for(
                    row.parameters_schema, offline=True
                )
        for trigger_ref, compiled_rules in catalogue.rules.items():
            if len(compiled_rules) > MAX_RULES_PER_TRIGGER:  # refused on create; never expected
                log.error(
                    "rule_engine.too_many_rules", trigger=trigger_ref, count=len(compiled_rules)
                )
                del compiled_rules[MAX_RULES_PER_TRIGGER:]
            members = [(rule.id, rule.ref) for rule in compiled_rules]
            catalogue.unconfirmed[rule_set_digest(trigger_ref, members)] = (trigger_ref, members)
        catalogue.subscriptions = await load_subscriptions(conn, tenant_id)
        return catalogue

    def _pack_config(self, tenant_id: int, config: Any, sealed: bytes | None) -> PackConfig:
        public: JSONObject = dict(config or {})
        secrets: JSONObject = {}
        if sealed is not None:
            try:
                opened = self._box.open(bytes(sealed), purpose=PACK_SECRETS, tenant_id=tenant_id)
            except SecretUnreadable:
                log.error("rule_engine.pack_secrets_unreadable", tenant_id=tenant_id)
            else:
                secrets = opened if isinstance(opened, dict) else {}
        values = frozenset(v for v in secrets.values() if isinstance(v, str) and v)
        masked: JSONObject = {**public, **dict.fromkeys(secrets, REDACTED)}
        return PackConfig(
            config={**public, **secrets}, public_config=public, secrets=values, masked_config=masked
        )

    async def enforce(
        self,
        conn: AsyncConnection,
        *,
        catalogue: TenantCatalogue,
        tenant_id: int,
        tenant_locator: str,
        events: Sequence[Event],
        now: int,
        handoff: Handoff | None = None,
    ) -> EnforceResult:
        """Evaluate, and record enforcements and executions, for `events` of one tenant;
        executions the local pool has room for are written leased to it (`handoff`)."""
        only_matches = catalogue.recording is EnforcementRecording.MATCHES
        rows: list[tuple[Any, ...]] = []  # enforcement rows: rules that passed (and see below)
        misses: list[tuple[Any, ...]] = []  # one compact record an event for the others
        recorded = 0
        passed: list[tuple[int, Event, JSONObject, Decision]] = []  # (enforcement id, ...)
        for event in events:
            candidates = catalogue.rules.get(event.type)
            if not candidates:
                continue
            view = event_view(event)
            rule_set_id = None if only_matches else catalogue.rule_set_ids.get(event.type)
            letters: list[str] = []
            clauses: list[dict[str, bool] | None] = []
            base = event.id << POSITION_BITS
            for position, rule in enumerate(candidates):
                d = decide(rule, view, pack=catalogue.packs[rule.pack_id])
                outcome = d.outcome
                if outcome is ConditionOutcome.PASSED:
                    passed.append((base | position, event, view, d))
                elif only_matches:
                    continue
                elif rule_set_id is not None:
                    letters.append(OUTCOME_LETTER[outcome])
                    clauses.append(d.clauses)
                    continue
                if rule_set_id is not None:
                    letters.append("P")
                    clauses.append(None)
                rows.append(
                    (
                        base | position,
                        tenant_id,
                        rule.id,
                        rule.ref,
                        rule.trigger_ref,
                        event.id,
                        _ENFORCEMENT_STATUS[outcome],
                        _OUTCOME[outcome],
                        d.clauses,
                        now,
                        now,
                    )
                )
            missed = len(letters) - letters.count("P")
            if missed:
                record = "".join(letters)
                misses.append(
                    (event.id, tenant_id, event.type, rule_set_id, record, missed, clauses, now)
                )
                recorded += missed
        if not rows and not misses:
            return EnforceResult(0, 0)
        timestamp = format_rfc3339(now)
        executions: list[NewExecution] = []
        failures: list[tuple[int, str]] = []
        for enforcement_id, event, view, d in passed:
            pack = catalogue.packs[d.rule.pack_id]
            system: dict[str, JSONValue] = {
                "timestamp": timestamp,
                "tenant": tenant_locator,
                "rule": d.rule.ref,
                "enforcement": enforcement_id,
                "event": event.id,
            }
            rendered = with_defaults(
                render(d.rule, view, pack=pack, system=system),
                catalogue.parameter_defaults.get(d.rule.action.id),
            )
            executions.append(
                self._execution(tenant_id, enforcement_id, event, d.rule, rendered, now)
            )
            problem = rendered.error or _parameter_problem(
                catalogue.parameter_validators.get(d.rule.action.id), rendered.parameters, pack
            )
            if problem is not None:
                failures.append((len(executions) - 1, problem))
        written = await write_executions(conn, executions, failures, handoff=handoff, now=now)
        if written.enforcement_status:  # rows of executions already running or failed
            rows = [_with_status(row, written.enforcement_status) for row in rows]
        await enforcement_store.insert_enforcements(conn, rows)
        await rule_misses.insert_misses(conn, misses)
        return EnforceResult(len(rows) + recorded, written.queued)

    def _execution(
        self,
        tenant_id: int,
        enforcement_id: int,
        event: Event,
        rule: CompiledRule,
        rendered: Rendered,
        now: int,
    ) -> NewExecution:
        sealed = None
        if rendered.error is None and rendered.shown != rendered.parameters:
            sealed = self._box.seal(
                rendered.parameters, purpose=EXECUTION_SECRETS, tenant_id=tenant_id
            )
        action = rule.action
        return NewExecution(
            tenant_id=tenant_id,
            enforcement_id=enforcement_id,
            rule_id=rule.id,
            rule_ref=rule.ref,
            event_id=event.id,
            action_id=action.id,
            action_ref=action.ref,
            runner=action.runner,
            entry_point=action.entry_point,
            parameters=rendered.shown if rendered.error is None else None,
            sealed_parameters=sealed,
            max_attempts=action.max_attempts or self._defaults.max_attempts,
            timeout_seconds=action.timeout_seconds or self._defaults.timeout_seconds,
            available_at=now,
        )


def _with_status(row: tuple[Any, ...], status: dict[int, EnforcementStatus]) -> tuple[Any, ...]:
    """An enforcement row (INSERT_COLUMNS order: id first, status seventh) with the status its
    execution gave it, if any."""
    found = status.get(row[0])
    return row if found is None else (*row[:6], found.value, *row[7:])


def _parameter_problem(validator: Any, parameters: JSONValue, pack: PackConfig) -> str | None:
    """Why rendered parameters break the action's schema (the execution fails unrun), or None."""
    if validator is None or validator.is_valid(parameters):
        return None
    message, path = next(
        (e.message, list(e.instance_path)) for e in validator.iter_errors(parameters)
    )
    where = json_path("$", path)
    return redact_text(
        f"parameters do not match the action's schema: {where}: {message}", pack.secrets
    )


def _compile(row: Any) -> CompiledRule | None:
    """A stored rule, compiled; None (and a log line) if it no longer compiles."""
    try:
        condition = compile_condition(row.conditions if row.conditions is not None else {})
        params = compile_params(row.action_params if row.action_params is not None else {})
    except (ConditionError, TemplateError) as error:
        log.error("rule_engine.rule_uncompilable", rule=row.ref, error=str(error))
        return None
    return CompiledRule(
        id=row.id,
        ref=row.ref,
        pack_id=row.pack_id,
        pack_ref=row.pack_ref,
        trigger_id=row.trigger_id,
        trigger_ref=row.trigger_ref,
        enabled=bool(row.enabled),
        strict_params=bool(row.strict_params),
        condition=condition,
        params=params,
        action=ActionSpec(
            id=row.action_id,
            ref=row.action_ref,
            runner=row.runner,
            entry_point=row.entry_point,
            timeout_seconds=row.timeout_seconds,
            max_attempts=row.max_attempts,
        ),
    )
