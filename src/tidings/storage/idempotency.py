"""Stored answers to requests that carried an `Idempotency-Key`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.storage.tables import idempotency_keys


@dataclass(frozen=True)
class StoredResponse:
    """The first answer given for a key, and the fingerprint of the request it answered."""

    fingerprint: str
    status_code: int
    body: bytes
    created_at: int


async def find_responses(
    conn: AsyncConnection, *, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], StoredResponse]:
    """Stored answers for many (tenant id, key) pairs in one query."""
    if not keys:
        return {}
    query = select(idempotency_keys).where(
        tuple_(idempotency_keys.c.tenant_id, idempotency_keys.c.key).in_(list(set(keys)))
    )
    return {
        (row.tenant_id, row.key): StoredResponse(
            fingerprint=row.fingerprint,
            status_code=row.status_code,
            body=bytes(row.response),
            created_at=row.created_at,
        )
        for row in await conn.execute(query)
    }


async def save_responses(conn: AsyncConnection, *, rows: Sequence[dict[str, object]]) -> None:
    """Record many answers at once (keys `tenant_id, key, fingerprint, status_code, response,
    created_at`); a concurrent duplicate fails on the primary key."""
    if rows:
        await conn.execute(idempotency_keys.insert(), list(rows))


async def delete_responses(conn: AsyncConnection, *, keys: Sequence[tuple[int, str]]) -> None:
    """Forget expired keys so they can be used afresh."""
    if keys:
        await conn.execute(
            delete(idempotency_keys).where(
                tuple_(idempotency_keys.c.tenant_id, idempotency_keys.c.key).in_(list(set(keys)))
            )
        )


async def purge_older_than(conn: AsyncConnection, *, cutoff: int) -> int:
    """Drop answers recorded before `cutoff`; returns how many."""
    result = await conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
    )
    return int(result.rowcount or 0)
