"""Packs, triggers and actions: the automation catalogue an operator manages.

Reads need `automation:read`; changes need `packs:write`. A definition is checked in full before
it is stored (pack_definitions: refs inside their pack, a known runner, valid JSON Schemas; and
the config against its pack's schema), so nothing about it fails later. A pack's secret config
values are sealed and only their names are ever given back (pack_config). The built-in packs
cannot be deleted and their triggers and actions are read-only, but their config is the tenant's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require
from tidings.domain.automation import Action, Pack, Trigger
from tidings.domain.clock import Clock
from tidings.domain.errors import Conflict, FieldProblem, InvalidInput, NotFound
from tidings.services import builtin_packs
from tidings.services.database import Database
from tidings.services.pack_config import config_columns, next_config, open_secrets
from tidings.services.pack_definitions import (
    ActionChanges,
    ActionSpec,
    PackBundle,
    PackChanges,
    PackSpec,
    TriggerChanges,
    TriggerSpec,
    action_problems,
    apply_changes,
    pack_problems,
    trigger_problems,
)
from tidings.services.pack_install import (
    InstallReport,
    action_values,
    check_unused,
    pack_values,
    sync_bundle,
    trigger_values,
)
from tidings.services.secret_box import SecretBox
from tidings.storage import catalogue as catalogue_store
from tidings.storage import tenants as tenant_store

T = TypeVar("T")
C = TypeVar("C", Trigger, Action)
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PackView:
    """A pack, with the names of its secret fields that hold a value (never the values)."""

    pack: Pack
    secret_fields: tuple[str, ...]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with the total of the whole list."""

    items: list[T]
    total: int


def _refuse(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidInput.of(*problems)


class CatalogueAdmin:
    """Packs, triggers and actions: the automation catalogue an operator manages."""

    def __init__(self, db: Database, *, clock: Clock, box: SecretBox) -> None:
        self._db = db
        self._clock = clock
        self._box = box

    @asynccontextmanager
    async def _changing(self, what: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._db.transaction() as conn:
                yield conn
        except IntegrityError:  # a concurrent create of the same ref won the race
            raise Conflict(f"{what} already exists") from None

    def _held(self, pack: Pack, sealed: bytes | None, tenant_id: int) -> PackView:
        secrets = open_secrets(self._box, sealed, tenant_id=tenant_id, ref=pack.ref)
        return PackView(pack, tuple(sorted(secrets)))

    async def _listing(
        self,
        lister: Callable[..., Awaitable[tuple[list[C], int]]],
        principal: Principal,
        *,
        pack_ref: str | None,
        page: int,
        per_page: int,
    ) -> Page[C]:
        require(principal, Permission.AUTOMATION_READ)
        tenant_id = principal.tenant_id
        async with self._db.read() as conn:
            pack_id = None if pack_ref is None else (await _pack(conn, tenant_id, pack_ref)).id
            items, total = await lister(
                conn,
                tenant_id=tenant_id,
                pack_id=pack_id,
                offset=(page - 1) * per_page,
                limit=per_page,
            )
        return Page(items, total)

    # --- packs --------------------------------------------------------------------------------

    async def list_packs(self, principal: Principal, *, page: int, per_page: int) -> Page[PackView]:
        """A page of packs, by ref."""
        require(principal, Permission.AUTOMATION_READ)
        tenant_id = principal.tenant_id
        async with self._db.read() as conn:
            items, total = await catalogue_store.list_packs(
                conn, tenant_id=tenant_id, offset=(page - 1) * per_page, limit=per_page
            )
            sealed = await catalogue_store.sealed_secrets(
                conn, tenant_id=tenant_id, pack_ids=[p.id for p in items]
            )
        return Page([self._held(p, sealed.get(p.id), tenant_id) for p in items], total)

    async def get_pack(self, principal: Principal, *, ref: str) -> PackView:
        """One pack, or NotFound `Pack 'x' not found`."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            pack = await _pack(conn, principal.tenant_id, ref)
            sealed = await catalogue_store.pack_secrets(
                conn, tenant_id=principal.tenant_id, pack_id=pack.id
            )
        return self._held(pack, sealed, principal.tenant_id)

    async def create_pack(self, principal: Principal, *, spec: PackSpec) -> PackView:
        """A new pack; its config is checked against its schema and its secrets sealed."""
        require(principal, Permission.PACKS_WRITE)
        _refuse(pack_problems(spec))
        tenant_id = principal.tenant_id
        async with self._changing(f"Pack '{spec.ref}'") as conn:
            if await catalogue_store.find_pack(conn, tenant_id=tenant_id, ref=spec.ref):
                raise Conflict(f"Pack '{spec.ref}' already exists")
            full = spec.config or {}
            columns = config_columns(self._box, full, spec.config_schema, tenant_id=tenant_id)
            values = {"ref": spec.ref, "builtin": False, **pack_values(spec), **columns}
            pack = await catalogue_store.insert_pack(
                conn, tenant_id=tenant_id, values=values, now=self._clock.now_ns()
            )
        log.info("catalogue.pack_created", tenant_id=tenant_id, pack=pack.ref)
        return PackView(pack, tuple(sorted(set(full) - set(columns["config"]))))

    async def update_pack(
        self, principal: Principal, *, ref: str, changes: PackChanges
    ) -> PackView:
        """Change a pack. A secret left out of the config patch keeps its value; null clears it."""
        require(principal, Permission.PACKS_WRITE)
        tenant_id = principal.tenant_id
        async with self._changing(f"Pack '{ref}'") as conn:
            pack = await _pack(conn, tenant_id, ref)
            if pack.builtin and dataclasses.replace(changes, config=None) != PackChanges():
                raise Conflict(f"Pack '{ref}' is built in: only its config can be changed")
            current = PackSpec(
                ref=pack.ref,
                label=pack.label,
                description=pack.description,
                version=pack.version,
                config_schema=pack.config_schema,
            )
            spec = apply_changes(current, changes)
            _refuse(pack_problems(spec))
            sealed = await catalogue_store.pack_secrets(conn, tenant_id=tenant_id, pack_id=pack.id)
            secrets = open_secrets(self._box, sealed, tenant_id=tenant_id, ref=ref)
            values = pack_values(spec)
            held = set(secrets)
            if changes.config is not None or spec.config_schema != pack.config_schema:
                full = next_config(
                    config=pack.config,
                    secrets=secrets,
                    schema=spec.config_schema,
                    given=changes.config,
                    replace=False,
                )
                columns = config_columns(self._box, full, spec.config_schema, tenant_id=tenant_id)
                values |= columns
                held = set(full) - set(columns["config"])
            updated = await catalogue_store.update_pack(
                conn, tenant_id=tenant_id, pack_id=pack.id, values=values, now=self._clock.now_ns()
            )
        log.info("catalogue.pack_updated", tenant_id=tenant_id, pack=ref)
        return PackView(updated, tuple(sorted(held)))

    async def delete_pack(self, principal: Principal, *, ref: str) -> None:
        """Remove a pack with its triggers, actions and rules; built-in packs stay."""
        require(principal, Permission.PACKS_WRITE)
        tenant_id = principal.tenant_id
        async with self._changing(f"Pack '{ref}'") as conn:
            pack = await _pack(conn, tenant_id, ref)
            if pack.builtin:
                raise Conflict(f"Pack '{ref}' is built in and cannot be deleted")
            used = await catalogue_store.count_rules_using(
                conn, tenant_id=tenant_id, outside_pack_of=pack.id
            )
            if used:
                raise Conflict(
                    f"Pack '{ref}' has triggers or actions used by {used} "
                    f"rule{'s' if used != 1 else ''} of other packs"
                )
            await catalogue_store.delete_pack(conn, tenant_id=tenant_id, pack_id=pack.id)
        log.info("catalogue.pack_deleted", tenant_id=tenant_id, pack=ref)

    # --- triggers -----------------------------------------------------------------------------

    async def list_triggers(
        self, principal: Principal, *, pack_ref: str | None, page: int, per_page: int
    ) -> Page[Trigger]:
        """A page of triggers by ref, of one pack or all."""
        return await self._listing(
            catalogue_store.list_triggers,
            principal,
            pack_ref=pack_ref,
            page=page,
            per_page=per_page,
        )

    async def get_trigger(self, principal: Principal, *, ref: str) -> Trigger:
        """One trigger, or NotFound."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            return await _trigger(conn, principal.tenant_id, ref)

    async def create_trigger(
        self, principal: Principal, *, spec: TriggerSpec, pack_ref: str | None
    ) -> Trigger:
        """A new trigger; its ref starts with its pack's (built-in packs take new ones too)."""
        require(principal, Permission.PACKS_WRITE)
        pack_ref = pack_ref or spec.ref.partition(".")[0]
        _refuse(trigger_problems(spec, pack_ref=pack_ref))
        tenant_id = principal.tenant_id
        async with self._changing(f"Trigger '{spec.ref}'") as conn:
            pack = await _writable_pack(conn, tenant_id, pack_ref, spec.ref)
            if await catalogue_store.find_trigger(conn, tenant_id=tenant_id, ref=spec.ref):
                raise Conflict(f"Trigger '{spec.ref}' already exists")
            values = {"pack_id": pack.id, "ref": spec.ref, **trigger_values(spec)}
            now = self._clock.now_ns()
            await catalogue_store.insert_trigger(conn, tenant_id=tenant_id, values=values, now=now)
            return await _trigger(conn, tenant_id, spec.ref)

    async def update_trigger(
        self, principal: Principal, *, ref: str, changes: TriggerChanges
    ) -> Trigger:
        """Change a trigger's label, description or payload schema."""
        require(principal, Permission.PACKS_WRITE)
        tenant_id = principal.tenant_id
        async with self._changing(f"Trigger '{ref}'") as conn:
            trigger = await _trigger(conn, tenant_id, ref)
            await _writable_pack(conn, tenant_id, trigger.pack_ref, trigger.ref)
            current = TriggerSpec(ref, trigger.label, trigger.description, trigger.payload_schema)
            spec = apply_changes(current, changes)
            _refuse(trigger_problems(spec, pack_ref=trigger.pack_ref))
            await catalogue_store.update_trigger(
                conn,
                tenant_id=tenant_id,
                trigger_id=trigger.id,
                values=trigger_values(spec),
                now=self._clock.now_ns(),
            )
            return await _trigger(conn, tenant_id, ref)

    async def delete_trigger(self, principal: Principal, *, ref: str) -> None:
        """Remove a trigger that no rule uses."""
        require(principal, Permission.PACKS_WRITE)
        tenant_id = principal.tenant_id
        async with self._changing(f"Trigger '{ref}'") as conn:
            trigger = await _trigger(conn, tenant_id, ref)
            await _writable_pack(conn, tenant_id, trigger.pack_ref, trigger.ref)
            await check_unused(conn, tenant_id, "Trigger", ref, trigger_id=trigger.id)
            await catalogue_store.delete_trigger(conn, tenant_id=tenant_id, trigger_id=trigger.id)

    # --- actions ------------------------------------------------------------------------------

    async def list_actions(
        self, principal: Principal, *, pack_ref: str | None, page: int, per_page: int
    ) -> Page[Action]:
        """A page of actions by ref, of one pack or all."""
        lister = catalogue_store.list_actions
        return await self._listing(
            lister, principal, pack_ref=pack_ref, page=page, per_page=per_page
        )

    async def get_action(self, principal: Principal, *, ref: str) -> Action:
        """One action, or NotFound."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            return await _action(conn, principal.tenant_id, ref)

    async def create_action(
        self, principal: Principal, *, spec: ActionSpec, pack_ref: str | None
    ) -> Action:
        """A new action; its ref starts with its pack's (built-in packs take new ones too)."""
        require(principal, Permission.PACKS_WRITE)
        pack_ref = pack_ref or spec.ref.partition(".")[0]
        _refuse(action_problems(spec, pack_ref=pack_ref))
        tenant_id = principal.tenant_id
        async with self._changing(f"Action '{spec.ref}'") as conn:
            pack = await _writable_pack(conn, tenant_id, pack_ref, spec.ref)
            if await catalogue_store.find_action(conn, tenant_id=tenant_id, ref=spec.ref):
                raise Conflict(f"Action '{spec.ref}' already exists")
            values = {"pack_id": pack.id, "ref": spec.ref, **action_values(spec)}
            now = self._clock.now_ns()
            await catalogue_store.insert_action(conn, tenant_id=tenant_id, values=values, now=now)
            return await _action(conn, tenant_id, spec.ref)

    async def update_action(
        self, principal: Principal, *, ref: str, changes: ActionChanges
    ) -> Action:
        """Change an action's fields (not its ref or pack)."""
        require(principal, Permission.PACKS_WRITE)
        tenant_id = principal.tenant_id
        async with self._changing(f"Action '{ref}'") as conn:
            action = await _action(conn, tenant_id, ref)
            await _writable_pack(conn, tenant_id, action.pack_ref, action.ref)
            current = ActionSpec(
                ref=ref,
                label=action.label,
                runner=action.runner,
                description=action.description,
                entry_point=action.entry_point,
                parameters_schema=action.parameters_schema,
                timeout_seconds=action.timeout_seconds,
                max_attempts=action.max_attempts,
            )
            spec = apply_changes(current, changes)
            _refuse(action_problems(spec, pack_ref=action.pack_ref))
            await catalogue_store.update_action(
                conn,
                tenant_id=tenant_id,
                action_id=action.id,
                values=action_values(spec),
                now=self._clock.now_ns(),
            )
            return await _action(conn, tenant_id, ref)

    async def delete_action(self, principal: Principal, *, ref: str) -> None:
        """Remove an action that no rule uses."""
        require(principal, Permission.PACKS_WRITE)
        tenant_id = principal.tenant_id
        async with self._changing(f"Action '{ref}'") as conn:
            action = await _action(conn, tenant_id, ref)
            await _writable_pack(conn, tenant_id, action.pack_ref, action.ref)
            await check_unused(conn, tenant_id, "Action", ref, action_id=action.id)
            await catalogue_store.delete_action(conn, tenant_id=tenant_id, action_id=action.id)

    # --- whole packs: the built-in ones, and installing ----------------------------------------

    async def ensure_builtin_packs(self) -> None:
        """Bring the built-in packs of every tenant up to this release's definitions."""
        async with self._db.read() as conn:
            tenants = await tenant_store.list_tenants(conn)
        for tenant in tenants:
            for attempt in (1, 2):  # a node starting beside this one may insert them first
                try:
                    async with self._db.transaction() as conn:
                        changed = await builtin_packs.ensure_builtin_packs(
                            conn, tenant_id=tenant.id, now=self._clock.now_ns()
                        )
                except IntegrityError:
                    if attempt == 2:
                        raise
                    continue
                if changed:
                    log.info("catalogue.builtin_packs_updated", tenant=tenant.name)
                break

    async def install(
        self, bundle: PackBundle, *, tenant: str, prune: bool = False
    ) -> InstallReport:
        """Install a pack definition into a tenant in one transaction (an operator's command)."""
        async with self._changing(f"Pack '{bundle.pack.ref}' or part of it") as conn:
            found = await tenant_store.find_tenant(conn, name=tenant)
            if found is None:
                raise NotFound(f"Tenant '{tenant}' not found")
            report = await sync_bundle(
                conn,
                tenant_id=found.id,
                bundle=bundle,
                now=self._clock.now_ns(),
                box=self._box,
                prune=prune,
            )
        log.info("catalogue.pack_installed", tenant=tenant, pack=report.pack_ref)
        return report


async def _pack(conn: AsyncConnection, tenant_id: int, ref: str) -> Pack:
    pack = await catalogue_store.find_pack(conn, tenant_id=tenant_id, ref=ref)
    if pack is None:
        raise NotFound(f"Pack '{ref}' not found")
    return pack


async def _writable_pack(
    conn: AsyncConnection, tenant_id: int, ref: str, item_ref: str | None = None
) -> Pack:
    """The pack, when `item_ref` may be added to or changed in it: everything in a user's pack,
    and in a built-in pack anything but what Tidings ships."""
    pack = await _pack(conn, tenant_id, ref)
    if pack.builtin and item_ref in builtin_packs.SHIPPED_REFS:
        raise Conflict(f"'{item_ref}' is built into pack '{ref}' and cannot be changed")
    return pack


async def _trigger(conn: AsyncConnection, tenant_id: int, ref: str) -> Trigger:
    trigger = await catalogue_store.find_trigger(conn, tenant_id=tenant_id, ref=ref)
    if trigger is None:
        raise NotFound(f"Trigger '{ref}' not found")
    return trigger


async def _action(conn: AsyncConnection, tenant_id: int, ref: str) -> Action:
    action = await catalogue_store.find_action(conn, tenant_id=tenant_id, ref=ref)
    if action is None:
        raise NotFound(f"Action '{ref}' not found")
    return action
