"""Inbound webhooks: the registry rows behind `POST /api/v1/webhooks/{name}`.

The HMAC secret arrives here already sealed (`services.secret_box`); storage only moves the bytes
and never sees a secret in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.storage.automation_tables import webhooks


@dataclass(frozen=True)
class WebhookRow:
    """One registered webhook as stored, its secret still sealed."""

    id: int
    tenant_id: int
    name: str
    sealed_secret: bytes | None
    enabled: bool
    created_at: int
    updated_at: int


def _row(r: Row[Any]) -> WebhookRow:
    return WebhookRow(
        id=r.id,
        tenant_id=r.tenant_id,
        name=r.name,
        sealed_secret=None if r.sealed_secret is None else bytes(r.sealed_secret),
        enabled=bool(r.enabled),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


async def find_webhook(conn: AsyncConnection, *, tenant_id: int, name: str) -> WebhookRow | None:
    """A tenant's webhook by name."""
    query = select(webhooks).where(webhooks.c.tenant_id == tenant_id, webhooks.c.name == name)
    row = (await conn.execute(query)).first()
    return None if row is None else _row(row)


async def list_webhooks(
    conn: AsyncConnection, *, tenant_id: int, offset: int, limit: int
) -> tuple[list[WebhookRow], int]:
    """A page of a tenant's webhooks by name (the unique index's order), and their total."""
    query = (
        select(webhooks)
        .where(webhooks.c.tenant_id == tenant_id)
        .order_by(webhooks.c.name)
        .offset(offset)
        .limit(limit)
    )
    items = [_row(r) for r in await conn.execute(query)]
    count = select(func.count()).select_from(webhooks).where(webhooks.c.tenant_id == tenant_id)
    total = int((await conn.execute(count)).scalar_one())
    return items, total


async def insert_webhook(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    name: str,
    sealed_secret: bytes | None,
    enabled: bool,
    now: int,
) -> WebhookRow:
    """Register a webhook; a taken name raises IntegrityError (the unique constraint)."""
    result = await conn.execute(
        webhooks.insert().returning(*webhooks.c),
        {
            "tenant_id": tenant_id,
            "name": name,
            "sealed_secret": sealed_secret,
            "enabled": enabled,
            "created_at": now,
            "updated_at": now,
        },
    )
    return _row(result.one())


async def update_webhook(
    conn: AsyncConnection, *, tenant_id: int, webhook_id: int, values: dict[str, object], now: int
) -> WebhookRow:
    """Set `values` (enabled, sealed_secret) and move `updated_at`."""
    statement = (
        update(webhooks)
        .where(webhooks.c.tenant_id == tenant_id, webhooks.c.id == webhook_id)
        .values(**values, updated_at=now)
        .returning(*webhooks.c)
    )
    return _row((await conn.execute(statement)).one())


async def delete_webhook(conn: AsyncConnection, *, tenant_id: int, webhook_id: int) -> None:
    """Remove a webhook; the events it recorded stay."""
    await conn.execute(
        delete(webhooks).where(webhooks.c.tenant_id == tenant_id, webhooks.c.id == webhook_id)
    )
