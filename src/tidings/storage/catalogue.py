"""Packs, triggers and actions: the automation catalogue's rows (rules are in `rules.py`).

Every change to the catalogue of a tenant bumps its `catalogue_versions` row in the same
transaction; a process that caches compiled rules compares that number to know its cache is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import Action, Pack, Trigger
from tidings.domain.json import JSONObject
from tidings.storage.automation_tables import actions, catalogue_versions, packs, rules, triggers

PACK_COLUMNS = (
    packs.c.id,
    packs.c.ref,
    packs.c.label,
    packs.c.description,
    packs.c.version,
    packs.c.config,
    packs.c.config_schema,
    packs.c.builtin,
    packs.c.created_at,
    packs.c.updated_at,
)


def secret_fields(schema: JSONObject | None) -> tuple[str, ...]:
    """Names of the config properties a pack's schema marks `"secret": true`."""
    if not schema or not isinstance(props := schema.get("properties"), dict):
        return ()
    return tuple(
        sorted(k for k, v in props.items() if isinstance(v, dict) and v.get("secret") is True)
    )


def to_pack(r: Row[Any, *tuple[Any, ...]]) -> Pack:
    """A pack row as a value (the sealed secrets stay behind)."""
    return Pack(
        id=r.id,
        ref=r.ref,
        label=r.label,
        description=r.description,
        version=r.version,
        config=dict(r.config or {}),
        secret_keys=secret_fields(r.config_schema),
        config_schema=r.config_schema,
        builtin=bool(r.builtin),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def to_trigger(r: Row[Any]) -> Trigger:
    """A trigger row (joined with its pack's ref) as a value."""
    return Trigger(
        id=r.id,
        pack_id=r.pack_id,
        pack_ref=r.pack_ref,
        ref=r.ref,
        label=r.label,
        description=r.description,
        payload_schema=r.payload_schema,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def to_action(r: Row[Any]) -> Action:
    """An action row (joined with its pack's ref) as a value."""
    return Action(
        id=r.id,
        pack_id=r.pack_id,
        pack_ref=r.pack_ref,
        ref=r.ref,
        label=r.label,
        description=r.description,
        runner=r.runner,
        entry_point=r.entry_point,
        parameters_schema=r.parameters_schema,
        timeout_seconds=r.timeout_seconds,
        max_attempts=r.max_attempts,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


# --- versions --------------------------------------------------------------------------------


async def bump_version(conn: AsyncConnection, *, tenant_id: int) -> None:
    """Mark the tenant's catalogue changed (call in every transaction that changes it)."""
    updated = await conn.execute(
        catalogue_versions.update()
        .where(catalogue_versions.c.tenant_id == tenant_id)
        .values(version=catalogue_versions.c.version + 1)
    )
    if updated.rowcount == 0:
        await conn.execute(catalogue_versions.insert(), {"tenant_id": tenant_id, "version": 1})


async def current_version(conn: AsyncConnection, *, tenant_id: int) -> int:
    """The tenant's catalogue version (0 before its first change)."""
    query = select(catalogue_versions.c.version).where(catalogue_versions.c.tenant_id == tenant_id)
    return int((await conn.execute(query)).scalar() or 0)


# --- packs -----------------------------------------------------------------------------------


async def find_pack(conn: AsyncConnection, *, tenant_id: int, ref: str) -> Pack | None:
    """A pack by ref."""
    query = select(*PACK_COLUMNS).where(packs.c.tenant_id == tenant_id, packs.c.ref == ref)
    row = (await conn.execute(query)).first()
    return None if row is None else to_pack(row)


async def pack_secrets(conn: AsyncConnection, *, tenant_id: int, pack_id: int) -> bytes | None:
    """The sealed secret config of a pack."""
    query = select(packs.c.secrets).where(packs.c.tenant_id == tenant_id, packs.c.id == pack_id)
    value = (await conn.execute(query)).scalar()
    return None if value is None else bytes(value)


async def sealed_secrets(
    conn: AsyncConnection, *, tenant_id: int, pack_ids: list[int]
) -> dict[int, bytes]:
    """The sealed secret configs of several packs, by pack id (packs without any are absent)."""
    query = select(packs.c.id, packs.c.secrets).where(
        packs.c.tenant_id == tenant_id, packs.c.id.in_(pack_ids), packs.c.secrets.is_not(None)
    )
    return {r.id: bytes(r.secrets) for r in await conn.execute(query)}


async def count_rules_using(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    trigger_id: int | None = None,
    action_id: int | None = None,
    outside_pack_of: int | None = None,
) -> int:
    """How many rules use a trigger, an action, or (`outside_pack_of`) that pack from outside."""
    where = [rules.c.tenant_id == tenant_id]
    if trigger_id is not None:
        where.append(rules.c.trigger_id == trigger_id)
    if action_id is not None:
        where.append(rules.c.action_id == action_id)
    if outside_pack_of is not None:
        pack_triggers = select(triggers.c.id).where(triggers.c.pack_id == outside_pack_of)
        pack_actions = select(actions.c.id).where(actions.c.pack_id == outside_pack_of)
        where.append(rules.c.pack_id != outside_pack_of)
        where.append(
            or_(rules.c.trigger_id.in_(pack_triggers), rules.c.action_id.in_(pack_actions))
        )
    query = select(func.count()).select_from(rules).where(*where)
    return int((await conn.execute(query)).scalar_one())


async def list_packs(
    conn: AsyncConnection, *, tenant_id: int, offset: int, limit: int
) -> tuple[list[Pack], int]:
    """A page of packs by ref, and the total."""
    where = packs.c.tenant_id == tenant_id
    total = (await conn.execute(select(func.count()).select_from(packs).where(where))).scalar()
    query = select(*PACK_COLUMNS).where(where).order_by(packs.c.ref).offset(offset).limit(limit)
    return [to_pack(r) for r in await conn.execute(query)], int(total or 0)


async def insert_pack(
    conn: AsyncConnection, *, tenant_id: int, values: Mapping[str, object], now: int
) -> Pack:
    """Create a pack from column values (ref, label, description, version, config, …)."""
    row = {"tenant_id": tenant_id, "created_at": now, "updated_at": now, **values}
    result = await conn.execute(packs.insert().returning(*PACK_COLUMNS), row)
    await bump_version(conn, tenant_id=tenant_id)
    return to_pack(result.one())


async def update_pack(
    conn: AsyncConnection, *, tenant_id: int, pack_id: int, values: Mapping[str, object], now: int
) -> Pack:
    """Change a pack's columns."""
    result = await conn.execute(
        packs.update()
        .where(packs.c.tenant_id == tenant_id, packs.c.id == pack_id)
        .values(updated_at=now, **values)
        .returning(*PACK_COLUMNS)
    )
    await bump_version(conn, tenant_id=tenant_id)
    return to_pack(result.one())


async def delete_pack(conn: AsyncConnection, *, tenant_id: int, pack_id: int) -> None:
    """Remove a pack with its triggers, actions and rules (the rows cascade)."""
    for table in (rules, triggers, actions):
        await conn.execute(
            table.delete().where(table.c.tenant_id == tenant_id, table.c.pack_id == pack_id)
        )
    await conn.execute(packs.delete().where(packs.c.tenant_id == tenant_id, packs.c.id == pack_id))
    await bump_version(conn, tenant_id=tenant_id)


# --- triggers and actions --------------------------------------------------------------------


def _trigger_query() -> Any:
    return select(*triggers.c, packs.c.ref.label("pack_ref")).join(
        packs, packs.c.id == triggers.c.pack_id
    )


def _action_query() -> Any:
    return select(*actions.c, packs.c.ref.label("pack_ref")).join(
        packs, packs.c.id == actions.c.pack_id
    )


async def find_trigger(conn: AsyncConnection, *, tenant_id: int, ref: str) -> Trigger | None:
    """A trigger by ref."""
    query = _trigger_query().where(triggers.c.tenant_id == tenant_id, triggers.c.ref == ref)
    row = (await conn.execute(query)).first()
    return None if row is None else to_trigger(row)


async def find_action(conn: AsyncConnection, *, tenant_id: int, ref: str) -> Action | None:
    """An action by ref."""
    query = _action_query().where(actions.c.tenant_id == tenant_id, actions.c.ref == ref)
    row = (await conn.execute(query)).first()
    return None if row is None else to_action(row)


async def list_triggers(
    conn: AsyncConnection, *, tenant_id: int, pack_id: int | None, offset: int, limit: int
) -> tuple[list[Trigger], int]:
    """A page of triggers by ref (of one pack, or all), and the total."""
    where = [triggers.c.tenant_id == tenant_id]
    if pack_id is not None:
        where.append(triggers.c.pack_id == pack_id)
    total = (await conn.execute(select(func.count()).select_from(triggers).where(*where))).scalar()
    query = _trigger_query().where(*where).order_by(triggers.c.ref).offset(offset).limit(limit)
    return [to_trigger(r) for r in await conn.execute(query)], int(total or 0)


async def list_actions(
    conn: AsyncConnection, *, tenant_id: int, pack_id: int | None, offset: int, limit: int
) -> tuple[list[Action], int]:
    """A page of actions by ref (of one pack, or all), and the total."""
    where = [actions.c.tenant_id == tenant_id]
    if pack_id is not None:
        where.append(actions.c.pack_id == pack_id)
    total = (await conn.execute(select(func.count()).select_from(actions).where(*where))).scalar()
    query = _action_query().where(*where).order_by(actions.c.ref).offset(offset).limit(limit)
    return [to_action(r) for r in await conn.execute(query)], int(total or 0)


async def insert_trigger(
    conn: AsyncConnection, *, tenant_id: int, values: Mapping[str, object], now: int
) -> int:
    """Create a trigger from column values (pack_id, ref, label, …); its id."""
    row = {"tenant_id": tenant_id, "created_at": now, "updated_at": now, **values}
    result = await conn.execute(triggers.insert().returning(triggers.c.id), row)
    await bump_version(conn, tenant_id=tenant_id)
    return int(result.scalar_one())


async def insert_action(
    conn: AsyncConnection, *, tenant_id: int, values: Mapping[str, object], now: int
) -> int:
    """Create an action from column values (pack_id, ref, label, runner, …); its id."""
    row = {"tenant_id": tenant_id, "created_at": now, "updated_at": now, **values}
    result = await conn.execute(actions.insert().returning(actions.c.id), row)
    await bump_version(conn, tenant_id=tenant_id)
    return int(result.scalar_one())


async def update_trigger(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    trigger_id: int,
    values: Mapping[str, object],
    now: int,
) -> None:
    """Change a trigger's columns."""
    await conn.execute(
        triggers.update()
        .where(triggers.c.tenant_id == tenant_id, triggers.c.id == trigger_id)
        .values(updated_at=now, **values)
    )
    await bump_version(conn, tenant_id=tenant_id)


async def update_action(
    conn: AsyncConnection, *, tenant_id: int, action_id: int, values: Mapping[str, object], now: int
) -> None:
    """Change an action's columns."""
    await conn.execute(
        actions.update()
        .where(actions.c.tenant_id == tenant_id, actions.c.id == action_id)
        .values(updated_at=now, **values)
    )
    await bump_version(conn, tenant_id=tenant_id)


async def delete_trigger(conn: AsyncConnection, *, tenant_id: int, trigger_id: int) -> None:
    """Remove a trigger (the caller has checked that no rule uses it)."""
    await conn.execute(
        triggers.delete().where(triggers.c.tenant_id == tenant_id, triggers.c.id == trigger_id)
    )
    await bump_version(conn, tenant_id=tenant_id)


async def delete_action(conn: AsyncConnection, *, tenant_id: int, action_id: int) -> None:
    """Remove an action (the caller has checked that no rule uses it)."""
    await conn.execute(
        actions.delete().where(actions.c.tenant_id == tenant_id, actions.c.id == action_id)
    )
    await bump_version(conn, tenant_id=tenant_id)
