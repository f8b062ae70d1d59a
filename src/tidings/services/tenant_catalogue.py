"""One tenant's compiled catalogue as ingest uses it: triggers, rules, pack configs, rule sets.

Built by the rule engine (rule_engine.py) once per catalogue version and shared by every ingest
transaction until the next version.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import EnforcementRecording
from tidings.domain.errors import FieldProblem
from tidings.domain.evaluation import CompiledRule, PackConfig
from tidings.domain.events import NewEvent
from tidings.domain.json import JSONObject
from tidings.services.subscription_matcher import CompiledSubscription
from tidings.storage import rule_misses


@dataclass(frozen=True)
class TriggerEntry:
    """A registered trigger as ingest needs it: its id and its compiled payload schema."""

    id: int
    validator: Any | None  # jsonschema_rs validator (untyped library)


@dataclass
class TenantCatalogue:
    """One tenant's compiled rules, triggers and pack configs at one catalogue version."""

    version: int
    recording: EnforcementRecording
    triggers: dict[str, TriggerEntry] = field(default_factory=dict)
    rules: dict[str, list[CompiledRule]] = field(default_factory=dict)
    packs: dict[int, PackConfig] = field(default_factory=dict)
    # Compiled parameter schemas of the actions rules use, by action id.
    parameter_validators: dict[int, Any] = field(default_factory=dict)
    # Top-level `default`s of those schemas: what a rule's action_params may leave out.
    parameter_defaults: dict[int, JSONObject] = field(default_factory=dict)
    # Each trigger's rules as a stored rule set (rule_misses.py): its id by trigger ref, and the
    # sets not yet seen committed (digest -> trigger ref, rules), looked up again until they are.
    rule_set_ids: dict[str, int] = field(default_factory=dict)
    unconfirmed: dict[str, tuple[str, rule_misses.Rules]] = field(default_factory=dict)
    # The enabled subscriptions, compiled (subscription_matcher.py).
    subscriptions: list[CompiledSubscription] = field(default_factory=list)

    def payload_problems(self, new: NewEvent, index: int | None) -> list[FieldProblem]:
        """Where `new`'s payload breaks its trigger's schema (empty when it has none)."""
        entry = self.triggers.get(new.type)
        if entry is None or entry.validator is None:
            return []
        return [
            FieldProblem(
                json_path("payload", path),
                message,
                index,
            )
            for message, path in _schema_errors(entry.validator, new.payload)
        ]

    def with_trigger_id(self, new: NewEvent) -> NewEvent:
        """`new` linked to the registered trigger of its type, when there is one."""
        entry = self.triggers.get(new.type)
        if entry is None or new.trigger_id is not None:
            return new
        return dataclasses.replace(new, trigger_id=entry.id)


def json_path(root: str, parts: list[Any]) -> str:
    """`payload.a[2].b` from a schema error's instance path."""
    return root + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in parts)


def _schema_errors(validator: Any, payload: JSONObject) -> list[tuple[str, list[Any]]]:
    if validator.is_valid(payload):
        return []
    return [(e.message, list(e.instance_path)) for e in validator.iter_errors(payload)][:10]


async def resolve_rule_sets(
    conn: AsyncConnection, tenant_id: int, catalogue: TenantCatalogue
) -> None:
    """Store (or find) the catalogue's rule sets in this transaction and note their ids; those
    found committed need no second look. A trigger whose set has no id yet records its rules
    that did not pass as enforcement rows, as before compact records."""
    ids, committed = await rule_misses.rule_set_ids(conn, tenant_id, catalogue.unconfirmed)
    for digest, (trigger_ref, _rules) in list(catalogue.unconfirmed.items()):
        if digest in ids:
            catalogue.rule_set_ids[trigger_ref] = ids[digest]
        if digest in committed:
            del catalogue.unconfirmed[digest]
