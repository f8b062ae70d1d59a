"""Roles: named sets of permissions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.identity import Role
from tidings.storage.tables import principal_roles, roles


def _role(r: Row[Any]) -> Role:
    return Role(
        id=r.id,
        tenant_id=r.tenant_id,
        name=r.name,
        description=r.description,
        permissions=tuple(r.permissions or ()),
        builtin=bool(r.builtin),
        created_at=r.created_at,
    )


async def insert_role(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    name: str,
    permissions: Sequence[str],
    description: str | None,
    builtin: bool,
    now: int,
) -> Role:
    """Create a role."""
    result = await conn.execute(
        roles.insert().returning(*roles.c),
        {
            "tenant_id": tenant_id,
            "name": name,
            "permissions": list(permissions),
            "description": description,
            "builtin": builtin,
            "created_at": now,
        },
    )
    return _role(result.one())


async def find_roles(conn: AsyncConnection, *, tenant_id: int, names: Sequence[str]) -> list[Role]:
    """The roles of a tenant with these names (missing names are simply absent)."""
    query = select(roles).where(roles.c.tenant_id == tenant_id, roles.c.name.in_(list(names)))
    return [_role(r) for r in await conn.execute(query)]


async def list_roles(conn: AsyncConnection, *, tenant_id: int) -> list[Role]:
    """Every role of a tenant, by name."""
    query = select(roles).where(roles.c.tenant_id == tenant_id).order_by(roles.c.name)
    return [_role(r) for r in await conn.execute(query)]


async def delete_role(conn: AsyncConnection, *, role_id: int) -> None:
    """Remove a role and its grants."""
    await conn.execute(delete(principal_roles).where(principal_roles.c.role_id == role_id))
    await conn.execute(delete(roles).where(roles.c.id == role_id))
