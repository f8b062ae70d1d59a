"""Updating and deleting event rows, and the revisions that record it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.json import JSONValue
from tidings.domain.revisions import FieldChange, Revision, RevisionKind
from tidings.storage.tables import event_revisions, events


async def lock_event(conn: AsyncConnection, *, tenant_id: int, event_id: int) -> bool:
    """Take the row lock an edit needs (PostgreSQL); SQLite's single writer already has it."""
    query = select(events.c.id).where(events.c.tenant_id == tenant_id, events.c.id == event_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first() is not None


async def update_event(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    event_id: int,
    values: dict[str, JSONValue],
    now: int,
) -> None:
    """Write new values of an event's columns; `payload_keys` follows the payload."""
    row: dict[str, Any] = dict(values)
    if "payload" in row:
        payload = row["payload"]
        row["payload_keys"] = len(payload) if isinstance(payload, dict) else 0
    if "links" in row and not row["links"]:
        row["links"] = None
    if "stakeholders" in row and not row["stakeholders"]:
        row["stakeholders"] = None
    row["updated_at"] = now
    await conn.execute(
        update(events).where(events.c.tenant_id == tenant_id, events.c.id == event_id).values(**row)
    )


async def delete_event(conn: AsyncConnection, *, tenant_id: int, event_id: int) -> bool:
    """Remove an event (its access rows go with it); True when there was one."""
    result = await conn.execute(
        delete(events).where(events.c.tenant_id == tenant_id, events.c.id == event_id)
    )
    return result.rowcount == 1


async def add_revision(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    event_id: int,
    kind: RevisionKind,
    actor_id: int | None,
    actor_locator: str | None,
    actor_name: str | None,
    changed_at: int,
    changes: list[FieldChange],
) -> Revision:
    """Append the next revision of an event."""
    latest = (
        await conn.execute(
            select(func.max(event_revisions.c.number)).where(
                event_revisions.c.tenant_id == tenant_id, event_revisions.c.event_id == event_id
            )
        )
    ).scalar_one()
    number = (latest or 0) + 1
    await conn.execute(
        event_revisions.insert().values(
            tenant_id=tenant_id,
            event_id=event_id,
            number=number,
            kind=kind.value,
            actor_id=actor_id,
            actor_locator=actor_locator,
            actor_name=actor_name,
            changed_at=changed_at,
            changes=[c.as_dict() for c in changes],
        )
    )
    return Revision(event_id, number, kind, actor_locator, actor_name, changed_at, tuple(changes))


async def list_revisions(
    conn: AsyncConnection, *, tenant_id: int, event_ids: list[int]
) -> dict[int, list[Revision]]:
    """The revisions of each event, oldest first."""
    if not event_ids:
        return {}
    query = (
        select(event_revisions)
        .where(
            event_revisions.c.tenant_id == tenant_id,
            event_revisions.c.event_id.in_(event_ids),
        )
        .order_by(event_revisions.c.event_id, event_revisions.c.number)
    )
    found: dict[int, list[Revision]] = {}
    for row in await conn.execute(query):
        found.setdefault(row.event_id, []).append(
            Revision(
                event_id=row.event_id,
                number=row.number,
                kind=RevisionKind(row.kind),
                actor_locator=row.actor_locator,
                actor_name=row.actor_name,
                changed_at=row.changed_at,
                changes=tuple(
                    FieldChange(c["field"], c.get("old"), c.get("new")) for c in row.changes
                ),
            )
        )
    return found
