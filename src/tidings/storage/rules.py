"""Rules: the rows that join a trigger to an action, read back with their pack, action and
trigger refs (001_…txt shows both the ids and the refs).

Every change bumps the tenant's catalogue version in the same transaction (as `catalogue.py`
does for packs, triggers and actions), so a node that caches compiled rules sees the change on
its next event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import Rule
from tidings.storage.automation_tables import actions, packs, rules, triggers
from tidings.storage.catalogue import bump_version


def to_rule(r: Row[Any]) -> Rule:
    """A rule row (joined with its pack's, action's and trigger's refs) as a value."""
    return Rule(
        id=r.id,
        ref=r.ref,
        pack_id=r.pack_id,
        pack_ref=r.pack_ref,
        label=r.label,
        description=r.description,
        action_id=r.action_id,
        action_ref=r.action_ref,
        trigger_id=r.trigger_id,
        trigger_ref=r.trigger_ref,
        conditions=r.conditions if r.conditions is not None else {},
        action_params=r.action_params if r.action_params is not None else {},
        enabled=bool(r.enabled),
        strict_params=bool(r.strict_params),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _rule_query() -> Select[Any]:
    return (
        select(
            *rules.c,
            packs.c.ref.label("pack_ref"),
            actions.c.ref.label("action_ref"),
            triggers.c.ref.label("trigger_ref"),
        )
        .join(packs, packs.c.id == rules.c.pack_id)
        .join(actions, actions.c.id == rules.c.action_id)
        .join(triggers, triggers.c.id == rules.c.trigger_id)
    )


async def find_rule(conn: AsyncConnection, *, tenant_id: int, ref: str) -> Rule | None:
    """A rule by ref."""
    query = _rule_query().where(rules.c.tenant_id == tenant_id, rules.c.ref == ref)
    row = (await conn.execute(query)).first()
    return None if row is None else to_rule(row)


async def _rule_by_id(conn: AsyncConnection, *, tenant_id: int, rule_id: int) -> Rule:
    query = _rule_query().where(rules.c.tenant_id == tenant_id, rules.c.id == rule_id)
    return to_rule((await conn.execute(query)).one())


async def list_rules(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    offset: int,
    limit: int,
    pack_id: int | None = None,
    action_id: int | None = None,
    trigger_id: int | None = None,
    enabled: bool | None = None,
) -> tuple[list[Rule], int]:
    """A page of rules by id (filtered by pack, action, trigger or state), and the total."""
    where: list[ColumnElement[bool]] = [rules.c.tenant_id == tenant_id]
    for column, value in (
        (rules.c.pack_id, pack_id),
        (rules.c.action_id, action_id),
        (rules.c.trigger_id, trigger_id),
        (rules.c.enabled, enabled),
    ):
        if value is not None:
            where.append(column == value)
    total = (await conn.execute(select(func.count()).select_from(rules).where(*where))).scalar()
    query = _rule_query().where(*where).order_by(rules.c.id).offset(offset).limit(limit)
    return [to_rule(r) for r in await conn.execute(query)], int(total or 0)


async def enabled_rules(
    conn: AsyncConnection, *, tenant_id: int, trigger_id: int | None = None
) -> list[Rule]:
    """Every enabled rule of a tenant (or of one of its triggers), by id."""
    where: list[ColumnElement[bool]] = [rules.c.tenant_id == tenant_id, rules.c.enabled.is_(True)]
    if trigger_id is not None:
        where.append(rules.c.trigger_id == trigger_id)
    query = _rule_query().where(*where).order_by(rules.c.id)
    return [to_rule(r) for r in await conn.execute(query)]


async def rules_on_trigger(conn: AsyncConnection, *, tenant_id: int, trigger_id: int) -> int:
    """How many rules a trigger has."""
    query = select(func.count()).where(
        rules.c.tenant_id == tenant_id, rules.c.trigger_id == trigger_id
    )
    return int((await conn.execute(query)).scalar_one())


async def insert_rule(
    conn: AsyncConnection, *, tenant_id: int, values: Mapping[str, object], now: int
) -> Rule:
    """Create a rule from column values (ref, pack_id, action_id, trigger_id, label, …)."""
    row = {"tenant_id": tenant_id, "created_at": now, "updated_at": now, **values}
    result = await conn.execute(rules.insert().returning(rules.c.id), row)
    await bump_version(conn, tenant_id=tenant_id)
    return await _rule_by_id(conn, tenant_id=tenant_id, rule_id=int(result.scalar_one()))


async def update_rule(
    conn: AsyncConnection, *, tenant_id: int, rule_id: int, values: Mapping[str, object], now: int
) -> Rule:
    """Change a rule's columns; `updated_at` becomes `now`."""
    await conn.execute(
        rules.update()
        .where(rules.c.tenant_id == tenant_id, rules.c.id == rule_id)
        .values(updated_at=now, **values)
    )
    await bump_version(conn, tenant_id=tenant_id)
    return await _rule_by_id(conn, tenant_id=tenant_id, rule_id=rule_id)


async def delete_rule(conn: AsyncConnection, *, tenant_id: int, rule_id: int) -> None:
    """Remove a rule (its enforcements and executions keep its id and ref as history)."""
    await conn.execute(rules.delete().where(rules.c.tenant_id == tenant_id, rules.c.id == rule_id))
    await bump_version(conn, tenant_id=tenant_id)
