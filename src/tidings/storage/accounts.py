"""Accounts (users and service accounts) and what they hold through roles and groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import PrincipalKind
from tidings.domain.identity import Account, Grants
from tidings.storage.tables import (
    api_keys,
    group_members,
    groups,
    principal_roles,
    principals,
    refresh_tokens,
    roles,
)

_ACCOUNT_COLUMNS: tuple[Any, ...] = (
    principals.c.id,
    principals.c.tenant_id,
    principals.c.locator,
    principals.c.kind,
    principals.c.name,
    principals.c.display_name,
    principals.c.is_active,
    principals.c.password_hash,
    principals.c.created_at,
    principals.c.updated_at,
)


def _account(r: Row[Any]) -> Account:
    return Account(
        id=r.id,
        tenant_id=r.tenant_id,
        locator=r.locator,
        kind=PrincipalKind(r.kind),
        name=r.name,
        display_name=r.display_name,
        is_active=bool(r.is_active),
        # Computed here: SQLite 3.40 evaluates `password_hash IS NOT NULL` wrongly in RETURNING.
        has_password=r.password_hash is not None,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


async def insert_account(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    kind: PrincipalKind,
    name: str,
    locator: str,
    password_hash: str | None,
    display_name: str | None,
    now: int,
) -> Account:
    """Create a user or service account."""
    result = await conn.execute(
        principals.insert().returning(*_ACCOUNT_COLUMNS),
        {
            "tenant_id": tenant_id,
            "kind": kind.value,
            "name": name,
            "locator": locator,
            "password_hash": password_hash,
            "display_name": display_name,
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        },
    )
    return _account(result.one())


async def find_account(
    conn: AsyncConnection,
    *,
    tenant_id: int | None = None,
    name: str | None = None,
    locator: str | None = None,
    account_id: int | None = None,
) -> Account | None:
    """An account by name (within a tenant), locator or id."""
    query = select(*_ACCOUNT_COLUMNS)
    if tenant_id is not None:
        query = query.where(principals.c.tenant_id == tenant_id)
    if name is not None:
        query = query.where(principals.c.name == name)
    if locator is not None:
        query = query.where(principals.c.locator == locator)
    if account_id is not None:
        query = query.where(principals.c.id == account_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _account(row)


async def password_hash_of(conn: AsyncConnection, *, account_id: int) -> str | None:
    """The stored argon2 hash of an account's password."""
    query = select(principals.c.password_hash).where(principals.c.id == account_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def list_accounts(
    conn: AsyncConnection, *, tenant_id: int, kind: PrincipalKind | None = None
) -> list[Account]:
    """Accounts of a tenant, by name."""
    query = select(*_ACCOUNT_COLUMNS).where(principals.c.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(principals.c.kind == kind.value)
    return [_account(r) for r in await conn.execute(query.order_by(principals.c.name))]


async def update_account(
    conn: AsyncConnection, *, account_id: int, now: int, **values: Any
) -> None:
    """Change stored fields of an account (display_name, is_active, password_hash)."""
    await conn.execute(
        update(principals).where(principals.c.id == account_id).values(updated_at=now, **values)
    )


async def delete_account(conn: AsyncConnection, *, account_id: int) -> None:
    """Remove an account; its keys, tokens, memberships and role grants go with it."""
    for table, column in (
        (api_keys, api_keys.c.principal_id),
        (refresh_tokens, refresh_tokens.c.principal_id),
        (group_members, group_members.c.principal_id),
        (principal_roles, principal_roles.c.principal_id),
    ):
        await conn.execute(delete(table).where(column == account_id))
    await conn.execute(delete(principals).where(principals.c.id == account_id))


async def grants_of(conn: AsyncConnection, *, account_id: int) -> Grants:
    """The permissions, role names and group names an account holds now."""
    role_rows = await conn.execute(
        select(roles.c.name, roles.c.permissions)
        .join(principal_roles, principal_roles.c.role_id == roles.c.id)
        .where(principal_roles.c.principal_id == account_id)
    )
    role_names: set[str] = set()
    permissions: set[str] = set()
    for r in role_rows:
        role_names.add(r.name)
        permissions.update(r.permissions or ())
    group_rows = await conn.execute(
        select(groups.c.name)
        .join(group_members, group_members.c.group_id == groups.c.id)
        .where(group_members.c.principal_id == account_id)
    )
    return Grants(
        permissions=frozenset(permissions),
        roles=frozenset(role_names),
        groups=frozenset(r.name for r in group_rows),
    )


async def set_account_roles(
    conn: AsyncConnection, *, account_id: int, role_ids: Sequence[int]
) -> None:
    """Replace the roles granted to an account."""
    await conn.execute(delete(principal_roles).where(principal_roles.c.principal_id == account_id))
    if role_ids:
        await conn.execute(
            principal_roles.insert(),
            [{"principal_id": account_id, "role_id": rid} for rid in role_ids],
        )


async def role_names_of(conn: AsyncConnection, *, account_id: int) -> list[str]:
    """Names of the roles granted to an account."""
    query = (
        select(roles.c.name)
        .join(principal_roles, principal_roles.c.role_id == roles.c.id)
        .where(principal_roles.c.principal_id == account_id)
        .order_by(roles.c.name)
    )
    return [r.name for r in await conn.execute(query)]


async def group_names_of(conn: AsyncConnection, *, account_id: int) -> list[str]:
    """Names of the groups an account belongs to."""
    query = (
        select(groups.c.name)
        .join(group_members, group_members.c.group_id == groups.c.id)
        .where(group_members.c.principal_id == account_id)
        .order_by(groups.c.name)
    )
    return [r.name for r in await conn.execute(query)]


async def set_account_groups(
    conn: AsyncConnection, *, account_id: int, group_ids: Sequence[int]
) -> None:
    """Replace the groups an account belongs to."""
    await conn.execute(delete(group_members).where(group_members.c.principal_id == account_id))
    if group_ids:
        await conn.execute(
            group_members.insert(),
            [{"principal_id": account_id, "group_id": gid} for gid in group_ids],
        )
