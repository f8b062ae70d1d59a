"""Tenants, accounts, roles, groups, API keys and refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import PrincipalKind
from tidings.domain.identity import Account, ApiKey, Grants, Group, Role, Tenant
from tidings.storage.tables import (
    api_keys,
    group_members,
    groups,
    principal_roles,
    principals,
    refresh_tokens,
    roles,
    tenants,
)

# --- tenants -------------------------------------------------------------------------------------


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


# --- accounts ------------------------------------------------------------------------------------

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


# --- roles ---------------------------------------------------------------------------------------


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


# --- groups --------------------------------------------------------------------------------------


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


# --- API keys ------------------------------------------------------------------------------------

_KEY_COLUMNS = (*api_keys.c, principals.c.name.label("principal_name"))


def _api_key(r: Row[Any]) -> ApiKey:
    return ApiKey(
        id=r.id,
        tenant_id=r.tenant_id,
        principal_id=r.principal_id,
        principal_name=r.principal_name,
        name=r.name,
        prefix=r.prefix,
        created_at=r.created_at,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
    )


async def insert_api_key(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    principal_id: int,
    name: str,
    prefix: str,
    key_hash: str,
    expires_at: int | None,
    now: int,
) -> int:
    """Store a new key's hash; returns its id."""
    result = await conn.execute(
        api_keys.insert().returning(api_keys.c.id),
        {
            "tenant_id": tenant_id,
            "principal_id": principal_id,
            "name": name,
            "prefix": prefix,
            "key_hash": key_hash,
            "expires_at": expires_at,
            "created_at": now,
        },
    )
    return int(result.scalar_one())


async def find_api_key(
    conn: AsyncConnection, *, key_id: int | None = None, key_hash: str | None = None
) -> ApiKey | None:
    """A key by id or by the hash of its secret."""
    query = select(*_KEY_COLUMNS).join(principals, principals.c.id == api_keys.c.principal_id)
    if key_id is not None:
        query = query.where(api_keys.c.id == key_id)
    if key_hash is not None:
        query = query.where(api_keys.c.key_hash == key_hash)
    row = (await conn.execute(query)).first()
    return None if row is None else _api_key(row)


async def list_api_keys(
    conn: AsyncConnection, *, tenant_id: int, principal_id: int | None = None
) -> list[ApiKey]:
    """Keys of a tenant (optionally of one account), newest first."""
    query = (
        select(*_KEY_COLUMNS)
        .join(principals, principals.c.id == api_keys.c.principal_id)
        .where(api_keys.c.tenant_id == tenant_id)
    )
    if principal_id is not None:
        query = query.where(api_keys.c.principal_id == principal_id)
    return [_api_key(r) for r in await conn.execute(query.order_by(api_keys.c.id.desc()))]


async def revoke_api_key(conn: AsyncConnection, *, key_id: int, now: int) -> None:
    """Mark a key revoked (kept for the audit trail)."""
    await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))


# --- refresh tokens ------------------------------------------------------------------------------


async def insert_refresh_token(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    principal_id: int,
    family: str,
    token_hash: str,
    expires_at: int,
    now: int,
) -> None:
    """Store a refresh token's hash in its rotation family."""
    await conn.execute(
        refresh_tokens.insert(),
        {
            "tenant_id": tenant_id,
            "principal_id": principal_id,
            "family": family,
            "token_hash": token_hash,
            "expires_at": expires_at,
            "created_at": now,
        },
    )


async def find_refresh_token(conn: AsyncConnection, *, token_hash: str) -> Row[Any] | None:
    """A refresh token row by the hash of its secret."""
    query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
    return (await conn.execute(query)).first()


async def mark_refresh_token_used(conn: AsyncConnection, *, token_id: int, now: int) -> bool:
    """Consume a refresh token once; False when it had been consumed already (a replay)."""
    result = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.id == token_id, refresh_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount)


async def revoke_refresh_tokens_of(conn: AsyncConnection, *, account_id: int, now: int) -> None:
    """Revoke every refresh token an account holds (after a password change)."""
    await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.principal_id == account_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_refresh_family(conn: AsyncConnection, *, family: str, now: int) -> None:
    """Revoke every token of a rotation family (after a replay, or on logout)."""
    await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family == family, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def purge_refresh_tokens(conn: AsyncConnection, *, expired_before: int) -> int:
    """Drop refresh tokens that expired before the cutoff; returns how many."""
    result = await conn.execute(
        delete(refresh_tokens).where(refresh_tokens.c.expires_at < expired_before)
    )
    return int(result.rowcount or 0)
