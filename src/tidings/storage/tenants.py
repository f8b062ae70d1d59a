"""Tenants: the isolation boundary every other row belongs to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.identity import Tenant
from tidings.storage.tables import tenants


def _tenant(r: Row[Any]) -> Tenant:
    return Tenant(id=r.id, locator=r.locator, name=r.name, created_at=r.created_at)


async def count_tenants(conn: AsyncConnection) -> int:
    """How many tenants exist (zero means the database is new)."""
    return int((await conn.execute(select(func.count()).select_from(tenants))).scalar_one())


async def insert_tenant(conn: AsyncConnection, *, locator: str, name: str, now: int) -> Tenant:
    """Create a tenant."""
    result = await conn.execute(
        tenants.insert().returning(*tenants.c),
        {"locator": locator, "name": name, "created_at": now},
    )
    return _tenant(result.one())


async def find_tenant(
    conn: AsyncConnection,
    *,
    name: str | None = None,
    locator: str | None = None,
    tenant_id: int | None = None,
) -> Tenant | None:
    """A tenant by name, locator or id."""
    query = select(tenants)
    if name is not None:
        query = query.where(tenants.c.name == name)
    if locator is not None:
        query = query.where(tenants.c.locator == locator)
    if tenant_id is not None:
        query = query.where(tenants.c.id == tenant_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _tenant(row)


async def list_tenants(conn: AsyncConnection) -> list[Tenant]:
    """Every tenant, oldest first."""
    return [_tenant(r) for r in await conn.execute(select(tenants).order_by(tenants.c.id))]


async def enforcement_recording(conn: AsyncConnection, *, tenant_id: int) -> str:
    """Which enforcements the tenant records: "all" or "matches"."""
    query = select(tenants.c.enforcement_recording).where(tenants.c.id == tenant_id)
    return str((await conn.execute(query)).scalar_one())


async def set_enforcement_recording(conn: AsyncConnection, *, tenant_id: int, value: str) -> None:
    """Change it; ingest reads it beside the catalogue version, so the next event obeys it."""
    await conn.execute(
        tenants.update().where(tenants.c.id == tenant_id).values(enforcement_recording=value)
    )
