"""Groups and their members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.identity import Group
from tidings.storage.tables import group_members, groups, principals


def _group(r: Row[Any]) -> Group:
    return Group(
        id=r.id,
        tenant_id=r.tenant_id,
        name=r.name,
        description=r.description,
        created_at=r.created_at,
    )


async def insert_group(
    conn: AsyncConnection, *, tenant_id: int, name: str, description: str | None, now: int
) -> Group:
    """Create a group."""
    result = await conn.execute(
        groups.insert().returning(*groups.c),
        {"tenant_id": tenant_id, "name": name, "description": description, "created_at": now},
    )
    return _group(result.one())


async def find_group(conn: AsyncConnection, *, tenant_id: int, name: str) -> Group | None:
    """A group by name."""
    query = select(groups).where(groups.c.tenant_id == tenant_id, groups.c.name == name)
    row = (await conn.execute(query)).first()
    return None if row is None else _group(row)


async def list_groups(conn: AsyncConnection, *, tenant_id: int) -> list[Group]:
    """Every group of a tenant, by name."""
    query = select(groups).where(groups.c.tenant_id == tenant_id).order_by(groups.c.name)
    return [_group(r) for r in await conn.execute(query)]


async def delete_group(conn: AsyncConnection, *, group_id: int) -> None:
    """Remove a group and its memberships."""
    await conn.execute(delete(group_members).where(group_members.c.group_id == group_id))
    await conn.execute(delete(groups).where(groups.c.id == group_id))


async def group_member_names(conn: AsyncConnection, *, group_id: int) -> list[str]:
    """Names of a group's members."""
    query = (
        select(principals.c.name)
        .join(group_members, group_members.c.principal_id == principals.c.id)
        .where(group_members.c.group_id == group_id)
        .order_by(principals.c.name)
    )
    return [r.name for r in await conn.execute(query)]


async def add_group_member(conn: AsyncConnection, *, group_id: int, account_id: int) -> bool:
    """Add a member; False when it already was one."""
    query = select(group_members.c.group_id).where(
        group_members.c.group_id == group_id, group_members.c.principal_id == account_id
    )
    if (await conn.execute(query)).first() is not None:
        return False
    await conn.execute(group_members.insert(), {"group_id": group_id, "principal_id": account_id})
    return True


async def remove_group_member(conn: AsyncConnection, *, group_id: int, account_id: int) -> bool:
    """Remove a member; False when it was not one."""
    result = await conn.execute(
        delete(group_members).where(
            group_members.c.group_id == group_id, group_members.c.principal_id == account_id
        )
    )
    return bool(result.rowcount)
