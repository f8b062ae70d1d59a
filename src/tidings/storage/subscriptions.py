"""Subscriptions as rows: saved, listed, and the health their deliveries report.

Secrets arrive sealed (`services.secret_box`) and leave sealed: storage never sees one in the
clear. Every change bumps the tenant's catalogue version in the same transaction, because ingest
keeps each tenant's compiled subscriptions beside its rules and reloads both when the version
moves (`services.rule_engine`): a subscription saved on any node applies from the next event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.json import JSONObject
from tidings.storage.catalogue import bump_version
from tidings.storage.delivery_tables import subscriptions


@dataclass(frozen=True)
class SubscriptionRow:
    """One subscription as stored, its secrets still sealed."""

    id: int
    tenant_id: int
    name: str | None
    target: str
    url: str | None
    addresses: list[str] | None
    slack_username: str | None
    slack_icon: str | None
    filter: JSONObject
    sealed_secrets: bytes | None
    retry_schedule: list[float] | None
    disable_after_seconds: float | None
    visible_groups: JSONObject | None  # {"groups": [...], "roles": [...]}; null: sees all
    escapekit_project: str | None
    notification_channel: str | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: int | None
    failing_since: int | None
    created_by: int | None
    created_at: int
    updated_at: int


# The columns a caller may set (the rest are the row's identity, history and health).
SETTABLE = (
    "name",
    "target",
    "url",
    "addresses",
    "slack_username",
    "slack_icon",
    "filter",
    "sealed_secrets",
    "retry_schedule",
    "disable_after_seconds",
    "visible_groups",
    "escapekit_project",
    "notification_channel",
    "enabled",
)


def _row(r: Row[Any]) -> SubscriptionRow:
    values = dict(r._mapping)
    sealed = values.pop("sealed_secrets")
    values["enabled"] = bool(values["enabled"])
    return SubscriptionRow(sealed_secrets=None if sealed is None else bytes(sealed), **values)


async def find(
    conn: AsyncConnection, *, tenant_id: int, subscription_id: int
) -> SubscriptionRow | None:
    """A tenant's subscription by id."""
    query = select(subscriptions).where(
        subscriptions.c.tenant_id == tenant_id, subscriptions.c.id == subscription_id
    )
    row = (await conn.execute(query)).first()
    return None if row is None else _row(row)


async def find_any(conn: AsyncConnection, *, subscription_id: int) -> SubscriptionRow | None:
    """A subscription by id, whichever its tenant (the delivery worker's look-up)."""
    query = select(subscriptions).where(subscriptions.c.id == subscription_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _row(row)


async def list_page(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    offset: int,
    limit: int,
    target: str | None = None,
    enabled: bool | None = None,
    escapekit_project: str | None = None,
) -> tuple[list[SubscriptionRow], int]:
    """A page of a tenant's subscriptions, oldest first, and how many match in all."""
    where = [subscriptions.c.tenant_id == tenant_id]
    if target is not None:
        where.append(subscriptions.c.target == target)
    if enabled is not None:
        where.append(subscriptions.c.enabled.is_(enabled))
    if escapekit_project is not None:
        where.append(subscriptions.c.escapekit_project == escapekit_project)
    query = select(subscriptions).where(*where).order_by(subscriptions.c.id)
    items = [_row(r) for r in await conn.execute(query.offset(offset).limit(limit))]
    count = select(func.count()).select_from(subscriptions).where(*where)
    return items, int((await conn.execute(count)).scalar_one())


async def enabled_for_tenant(conn: AsyncConnection, *, tenant_id: int) -> list[SubscriptionRow]:
    """Every enabled subscription of a tenant, by id (what ingest compiles)."""
    query = (
        select(subscriptions)
        .where(subscriptions.c.tenant_id == tenant_id, subscriptions.c.enabled.is_(True))
        .order_by(subscriptions.c.id)
    )
    return [_row(r) for r in await conn.execute(query)]


async def insert(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    values: JSONObject | dict[str, Any],
    created_by: int | None,
    now: int,
) -> SubscriptionRow:
    """Save a new subscription (`values`: the SETTABLE columns)."""
    unknown = set(values) - set(SETTABLE)
    assert not unknown, unknown
    result = await conn.execute(
        subscriptions.insert().returning(*subscriptions.c),
        {
            **values,
            "tenant_id": tenant_id,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        },
    )
    await bump_version(conn, tenant_id=tenant_id)
    return _row(result.one())


async def change(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    subscription_id: int,
    values: dict[str, Any],
    now: int,
) -> SubscriptionRow | None:
    """Change some SETTABLE columns. Enabling a disabled subscription clears why it was
    disabled and its run of failures: it starts over."""
    unknown = set(values) - set(SETTABLE)
    assert not unknown, unknown
    extra: dict[str, Any] = {}
    if values.get("enabled") is True:
        was_disabled = subscriptions.c.enabled.is_(False)
        extra = {
            name: case((was_disabled, None), else_=subscriptions.c[name])
            for name in ("disabled_reason", "disabled_at", "failing_since")
        }
    result = await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.tenant_id == tenant_id, subscriptions.c.id == subscription_id)
        .values(**values, **extra, updated_at=now)
        .returning(*subscriptions.c)
    )
    row = result.first()
    if row is not None:
        await bump_version(conn, tenant_id=tenant_id)
    return None if row is None else _row(row)


async def remove(conn: AsyncConnection, *, tenant_id: int, subscription_ids: Sequence[int]) -> int:
    """Delete subscriptions; how many there were. Their past deliveries stay (history)."""
    if not subscription_ids:
        return 0
    result = await conn.execute(
        delete(subscriptions).where(
            subscriptions.c.tenant_id == tenant_id, subscriptions.c.id.in_(list(subscription_ids))
        )
    )
    if result.rowcount:
        await bump_version(conn, tenant_id=tenant_id)
    return int(result.rowcount or 0)


async def delivered(conn: AsyncConnection, *, subscription_id: int) -> None:
    """A delivery succeeded: the subscription's run of failures, if any, is over."""
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id, subscriptions.c.failing_since.is_not(None))
        .values(failing_since=None)
    )


async def failing(conn: AsyncConnection, *, subscription_id: int, now: int) -> int | None:
    """A delivery failed: when the subscription's run of failures began (now, if it just did);
    None when the subscription is gone."""
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id, subscriptions.c.failing_since.is_(None))
        .values(failing_since=now)
    )
    query = select(subscriptions.c.failing_since).where(subscriptions.c.id == subscription_id)
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def disable(
    conn: AsyncConnection, *, subscription_id: int, reason: str, now: int
) -> SubscriptionRow | None:
    """Turn a subscription off for `reason`; the row if this call is what disabled it."""
    result = await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id, subscriptions.c.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
        .returning(*subscriptions.c)
    )
    row = result.first()
    if row is None:
        return None
    await bump_version(conn, tenant_id=row.tenant_id)
    return _row(row)
