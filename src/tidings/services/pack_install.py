"""Putting a pack definition into a tenant's catalogue, and saying what changed.

`sync_bundle` makes the catalogue match a `PackBundle` inside the caller's transaction and reports
what it created, updated, left unchanged or (with `prune`) removed; running it twice changes
nothing the second time. The built-in packs use it at every start; `tidings packs install DIR`
uses it for a directory.

A definition's config replaces the pack's non-secret config; secrets it leaves out keep their
sealed values (pack_config).

Rules are written with SQLAlchemy Core on the `rules` table directly, so installing does not wait
on the rules service; they pass the same checks (pack_definitions.rule_problems).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import Action, Pack, Trigger
from tidings.domain.errors import Conflict, NotFound
from tidings.services.pack_config import config_columns, next_config, open_secrets
from tidings.services.pack_definitions import (
    ActionSpec,
    PackBundle,
    PackSpec,
    RuleSpec,
    TriggerSpec,
)
from tidings.services.rules import check_trigger_room
from tidings.services.secret_box import SecretBox
from tidings.storage import catalogue as catalogue_store
from tidings.storage.automation_tables import rules

_EVERYTHING = 1_000_000  # a pack's triggers or actions, read in one page
log = structlog.get_logger(__name__)


# --- the report -------------------------------------------------------------------------------


@dataclass
class Changes:
    """The refs of one kind of thing that an install created, updated, left alone or removed."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything of this kind changed."""
        return bool(self.created or self.updated or self.removed)


@dataclass
class InstallReport:
    """What syncing one pack did, per kind."""

    pack_ref: str
    pack: Changes = field(default_factory=Changes)
    triggers: Changes = field(default_factory=Changes)
    actions: Changes = field(default_factory=Changes)
    rules: Changes = field(default_factory=Changes)

    @property
    def kinds(self) -> dict[str, Changes]:
        """Each kind's changes, by name."""
        return {
            "pack": self.pack,
            "triggers": self.triggers,
            "actions": self.actions,
            "rules": self.rules,
        }

    @property
    def changed(self) -> bool:
        """Whether the install changed anything."""
        return any(c.changed for c in self.kinds.values())


# --- syncing ----------------------------------------------------------------------------------


async def sync_bundle(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    bundle: PackBundle,
    now: int,
    box: SecretBox | None,
    builtin: bool = False,
    prune: bool = False,
) -> InstallReport:
    """Make the tenant's catalogue hold `bundle`; say what changed (inside the caller's txn)."""
    report = InstallReport(bundle.pack.ref)
    pack = await _sync_pack(conn, tenant_id, bundle.pack, now, box, builtin, report.pack)
    if pack is None:
        return report
    if prune:
        await _prune_rules(conn, tenant_id, pack, {r.ref for r in bundle.rules}, report.rules)
    current = await _sync_triggers(conn, tenant_id, pack, bundle.triggers, now, report.triggers)
    actions = await _sync_actions(conn, tenant_id, pack, bundle.actions, now, report.actions)
    for rule in bundle.rules:
        await _sync_rule(conn, tenant_id, pack, rule, now, report.rules)
    if prune:
        await _prune(conn, tenant_id, bundle, current, actions, report)
    return report


async def _sync_triggers(
    conn: AsyncConnection,
    tenant_id: int,
    pack: Pack,
    specs: tuple[TriggerSpec, ...],
    now: int,
    changes: Changes,
) -> dict[str, Trigger]:
    """Create or update the pack's triggers; the ones it had before, by ref."""
    existing, _ = await catalogue_store.list_triggers(
        conn, tenant_id=tenant_id, pack_id=pack.id, offset=0, limit=_EVERYTHING
    )
    before = {t.ref: t for t in existing}
    for spec in specs:
        values = trigger_values(spec)
        found = before.get(spec.ref)
        if found is None:
            await _free_ref(conn, tenant_id, "Trigger", spec.ref)
            row = {"pack_id": pack.id, "ref": spec.ref, **values}
            await catalogue_store.insert_trigger(conn, tenant_id=tenant_id, values=row, now=now)
            changes.created.append(spec.ref)
        elif _differs(found, values):
            await catalogue_store.update_trigger(
                conn, tenant_id=tenant_id, trigger_id=found.id, values=values, now=now
            )
            changes.updated.append(spec.ref)
        else:
            changes.unchanged.append(spec.ref)
    return before


async def _sync_actions(
    conn: AsyncConnection,
    tenant_id: int,
    pack: Pack,
    specs: tuple[ActionSpec, ...],
    now: int,
    changes: Changes,
) -> dict[str, Action]:
    """Create or update the pack's actions; the ones it had before, by ref."""
    existing, _ = await catalogue_store.list_actions(
        conn, tenant_id=tenant_id, pack_id=pack.id, offset=0, limit=_EVERYTHING
    )
    before = {a.ref: a for a in existing}
    for spec in specs:
        values = action_values(spec)
        found = before.get(spec.ref)
        if found is None:
            await _free_ref(conn, tenant_id, "Action", spec.ref)
            row = {"pack_id": pack.id, "ref": spec.ref, **values}
            await catalogue_store.insert_action(conn, tenant_id=tenant_id, values=row, now=now)
            changes.created.append(spec.ref)
        elif _differs(found, values):
            await catalogue_store.update_action(
                conn, tenant_id=tenant_id, action_id=found.id, values=values, now=now
            )
            changes.updated.append(spec.ref)
        else:
            changes.unchanged.append(spec.ref)
    return before


def pack_values(spec: PackSpec) -> dict[str, Any]:
    """The columns of a pack a definition states (apart from its ref and config)."""
    return {
        "label": spec.label,
        "description": spec.description,
        "version": spec.version,
        "config_schema": spec.config_schema,
    }


def trigger_values(spec: TriggerSpec) -> dict[str, Any]:
    """The columns of a trigger (apart from its pack and ref)."""
    return {
        "label": spec.label,
        "description": spec.description,
        "payload_schema": spec.payload_schema,
    }


def action_values(spec: ActionSpec) -> dict[str, Any]:
    """The columns of an action (apart from its pack and ref)."""
    return {
        "label": spec.label,
        "description": spec.description,
        "runner": spec.runner,
        "entry_point": spec.entry_point,
        "parameters_schema": spec.parameters_schema,
        "timeout_seconds": spec.timeout_seconds,
        "max_attempts": spec.max_attempts,
    }


def _differs(current: object, values: dict[str, Any]) -> bool:
    return any(getattr(current, name) != value for name, value in values.items())


async def _free_ref(conn: AsyncConnection, tenant_id: int, kind: str, ref: str) -> None:
    find = catalogue_store.find_trigger if kind == "Trigger" else catalogue_store.find_action
    other = await find(conn, tenant_id=tenant_id, ref=ref)
    if other is not None:
        raise Conflict(f"{kind} '{ref}' already exists in pack '{other.pack_ref}'")


async def _sync_pack(
    conn: AsyncConnection,
    tenant_id: int,
    spec: PackSpec,
    now: int,
    box: SecretBox | None,
    builtin: bool,
    changes: Changes,
) -> Pack | None:
    pack = await catalogue_store.find_pack(conn, tenant_id=tenant_id, ref=spec.ref)
    if pack is not None and pack.builtin != builtin:
        if builtin:  # a pack of the user's took the name first: leave it alone
            log.warning("pack.builtin_shadowed", tenant_id=tenant_id, pack=spec.ref)
            return None
        raise Conflict(f"Pack '{spec.ref}' is built in and cannot be installed over")
    values = pack_values(spec)
    if pack is None:
        # Without a box (the built-in packs) there is no config to seal: it starts empty.
        values |= (
            {"config": {}}
            if box is None
            else config_columns(box, spec.config or {}, spec.config_schema, tenant_id=tenant_id)
        )
        row = {"ref": spec.ref, "builtin": builtin, **values}
        changes.created.append(spec.ref)
        return await catalogue_store.insert_pack(conn, tenant_id=tenant_id, values=row, now=now)
    changed = any(getattr(pack, name) != value for name, value in values.items())
    if box is not None and (spec.config is not None or spec.config_schema != pack.config_schema):
        sealed = await catalogue_store.pack_secrets(conn, tenant_id=tenant_id, pack_id=pack.id)
        secrets = open_secrets(box, sealed, tenant_id=tenant_id, ref=pack.ref)
        full = next_config(
            config=pack.config,
            secrets=secrets,
            schema=spec.config_schema,
            given=spec.config,
            replace=True,
        )
        columns = config_columns(box, full, spec.config_schema, tenant_id=tenant_id)
        new_secrets = {k: v for k, v in full.items() if k not in columns["config"]}
        if columns["config"] != pack.config or new_secrets != secrets:
            values |= columns
            changed = True
    if not changed:
        changes.unchanged.append(spec.ref)
        return pack
    changes.updated.append(spec.ref)
    return await catalogue_store.update_pack(
        conn, tenant_id=tenant_id, pack_id=pack.id, values=values, now=now
    )


# --- rules ------------------------------------------------------------------------------------


async def _sync_rule(
    conn: AsyncConnection, tenant_id: int, pack: Pack, spec: RuleSpec, now: int, changes: Changes
) -> None:
    trigger = await catalogue_store.find_trigger(conn, tenant_id=tenant_id, ref=spec.trigger_ref)
    if trigger is None:
        raise NotFound(f"Trigger '{spec.trigger_ref}' (of rule '{spec.ref}') not found")
    action = await catalogue_store.find_action(conn, tenant_id=tenant_id, ref=spec.action_ref)
    if action is None:
        raise NotFound(f"Action '{spec.action_ref}' (of rule '{spec.ref}') not found")
    values: dict[str, Any] = {
        "label": spec.label,
        "description": spec.description,
        "trigger_id": trigger.id,
        "action_id": action.id,
        "conditions": spec.conditions,
        "action_params": spec.action_params,
        "enabled": spec.enabled,
        "strict_params": spec.strict_params,
    }
    query = select(rules).where(rules.c.tenant_id == tenant_id, rules.c.ref == spec.ref)
    row = (await conn.execute(query)).first()
    if row is None or row.trigger_id != trigger.id:
        await check_trigger_room(conn, tenant_id=tenant_id, trigger=trigger)
    if row is None:
        full = {"tenant_id": tenant_id, "pack_id": pack.id, "ref": spec.ref, **values}
        await conn.execute(rules.insert(), {**full, "created_at": now, "updated_at": now})
        changes.created.append(spec.ref)
    elif row.pack_id != pack.id:
        raise Conflict(f"Rule '{spec.ref}' already exists in another pack")
    elif any(getattr(row, k) != v for k, v in values.items()):
        await conn.execute(
            rules.update().where(rules.c.id == row.id).values(updated_at=now, **values)
        )
        changes.updated.append(spec.ref)
    else:
        changes.unchanged.append(spec.ref)
        return
    await catalogue_store.bump_version(conn, tenant_id=tenant_id)


async def _prune_rules(
    conn: AsyncConnection, tenant_id: int, pack: Pack, keep: set[str], changes: Changes
) -> None:
    query = select(rules.c.id, rules.c.ref).where(
        rules.c.tenant_id == tenant_id, rules.c.pack_id == pack.id
    )
    gone = [(r.id, r.ref) for r in await conn.execute(query) if r.ref not in keep]
    for rule_id, ref in sorted(gone, key=lambda r: r[1]):
        await conn.execute(rules.delete().where(rules.c.id == rule_id))
        changes.removed.append(ref)
    if gone:
        await catalogue_store.bump_version(conn, tenant_id=tenant_id)


async def _prune(
    conn: AsyncConnection,
    tenant_id: int,
    bundle: PackBundle,
    triggers: dict[str, Trigger],
    actions: dict[str, Action],
    report: InstallReport,
) -> None:
    keep_triggers = {t.ref for t in bundle.triggers}
    for ref in sorted(set(triggers) - keep_triggers):
        trigger_id = triggers[ref].id
        await check_unused(conn, tenant_id, "Trigger", ref, trigger_id=trigger_id)
        await catalogue_store.delete_trigger(conn, tenant_id=tenant_id, trigger_id=trigger_id)
        report.triggers.removed.append(ref)
    keep_actions = {a.ref for a in bundle.actions}
    for ref in sorted(set(actions) - keep_actions):
        action_id = actions[ref].id
        await check_unused(conn, tenant_id, "Action", ref, action_id=action_id)
        await catalogue_store.delete_action(conn, tenant_id=tenant_id, action_id=action_id)
        report.actions.removed.append(ref)


async def check_unused(
    conn: AsyncConnection,
    tenant_id: int,
    kind: str,
    ref: str,
    *,
    trigger_id: int | None = None,
    action_id: int | None = None,
) -> None:
    """Raise Conflict when rules use this trigger or action (they would block its removal)."""
    count = await catalogue_store.count_rules_using(
        conn, tenant_id=tenant_id, trigger_id=trigger_id, action_id=action_id
    )
    if count:
        raise Conflict(f"{kind} '{ref}' is used by {count} rule{'s' if count != 1 else ''}")
