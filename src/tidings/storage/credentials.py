"""API keys and refresh tokens, stored only as hashes of their secrets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.identity import ApiKey
from tidings.storage.tables import api_keys, principals, refresh_tokens

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
