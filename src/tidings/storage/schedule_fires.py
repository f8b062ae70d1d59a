"""A schedule's fires (issue 5): one row per tick, keyed by schedule and scheduled instant, and
the look-ups the scheduler makes before firing — the newest fire of each schedule (a tick still
to retry?), the events already recorded for some ticks (an earlier attempt got that far?), and
whether a fire's actions still run (BLOCKED?).

The primary key (schedule, tick) is what makes a tick's row unique across every scheduler; a row
is written once its event is recorded (or its attempt failed), in the same write that moves the
schedule on (`schedules.advance_many`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import ExecutionStatus
from tidings.storage.automation_tables import enforcements, executions
from tidings.storage.delivery_tables import schedule_fires
from tidings.storage.tables import events

_IN_CHUNK = 500  # values per IN list: SQLite binds at most 32,766 parameters
_IN_PROGRESS = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


@dataclass(frozen=True)
class FireRow:
    """One fire: the scheduled instant, the event it recorded, or why it failed."""

    schedule_id: int
    tenant_id: int
    fire_at: int
    fired_at: int
    event_id: int | None
    error: str | None


async def newest_fires(conn: AsyncConnection, *, schedule_ids: Sequence[int]) -> dict[int, FireRow]:
    """Each schedule's latest fire row (by scheduled instant), for those that have one."""
    if not schedule_ids:
        return {}
    newest = (
        select(schedule_fires.c.schedule_id, func.max(schedule_fires.c.fire_at).label("fire_at"))
        .where(schedule_fires.c.schedule_id.in_(list(schedule_ids)))
        .group_by(schedule_fires.c.schedule_id)
        .subquery()
    )
    query = select(schedule_fires).join(
        newest,
        and_(
            newest.c.schedule_id == schedule_fires.c.schedule_id,
            newest.c.fire_at == schedule_fires.c.fire_at,
        ),
    )
    return {r.schedule_id: _fire(r) for r in await conn.execute(query)}


def _fire(r: Row[Any]) -> FireRow:
    return FireRow(
        schedule_id=r.schedule_id,
        tenant_id=r.tenant_id,
        fire_at=r.fire_at,
        fired_at=r.fired_at,
        event_id=r.event_id,
        error=r.error,
    )


async def list_fires(conn: AsyncConnection, *, schedule_id: int, limit: int) -> list[FireRow]:
    """A schedule's fires, newest first."""
    query = (
        select(schedule_fires)
        .where(schedule_fires.c.schedule_id == schedule_id)
        .order_by(schedule_fires.c.fire_at.desc())
        .limit(limit)
    )
    return [_fire(r) for r in await conn.execute(query)]


async def save_fires(conn: AsyncConnection, *, rows: Sequence[FireRow]) -> None:
    """Record fires; a tick already recorded keeps its event (a retry fills in a failed one)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(schedule_fires)
    upsert = statement.on_conflict_do_update(
        index_elements=[schedule_fires.c.schedule_id, schedule_fires.c.fire_at],
        set_={
            "fired_at": statement.excluded.fired_at,
            "event_id": statement.excluded.event_id,
            "error": statement.excluded.error,
        },
        where=schedule_fires.c.event_id.is_(None),
    )
    await conn.execute(
        upsert,
        [
            {
                "schedule_id": r.schedule_id,
                "tenant_id": r.tenant_id,
                "fire_at": r.fire_at,
                "fired_at": r.fired_at,
                "event_id": r.event_id,
                "error": r.error,
            }
            for r in rows
        ],
    )


async def delete_unrecorded_fires(conn: AsyncConnection, *, schedule_id: int) -> None:
    """Drop a schedule's failed ticks (fire rows without an event): they are not retried."""
    await conn.execute(
        delete(schedule_fires).where(
            schedule_fires.c.schedule_id == schedule_id, schedule_fires.c.event_id.is_(None)
        )
    )


async def recorded_events(
    conn: AsyncConnection, *, tenant_id: int, request_ids: Sequence[str]
) -> dict[str, int]:
    """The events already recorded under these request ids (a fire's id names its tick)."""
    found: dict[str, int] = {}
    for start in range(0, len(request_ids), _IN_CHUNK):
        chunk = list(request_ids[start : start + _IN_CHUNK])
        query = select(events.c.request_id, func.min(events.c.id)).where(
            events.c.tenant_id == tenant_id, events.c.request_id.in_(chunk)
        )
        rows = await conn.execute(query.group_by(events.c.request_id))
        found.update({str(request_id): int(event_id) for request_id, event_id in rows})
    return found


async def events_in_progress(
    conn: AsyncConnection, *, tenant_id: int, event_ids: Sequence[int]
) -> set[int]:
    """Which of these events still have a rule's execution queued or running."""
    if not event_ids:
        return set()
    query = (
        select(enforcements.c.event_id)
        .join(
            executions,
            and_(
                executions.c.tenant_id == enforcements.c.tenant_id,
                executions.c.enforcement_id == enforcements.c.id,
            ),
        )
        .where(
            enforcements.c.tenant_id == tenant_id,
            enforcements.c.event_id.in_(list(event_ids)),
            executions.c.status.in_(_IN_PROGRESS),
        )
        .distinct()
    )
    return {int(e) for e in (await conn.execute(query)).scalars()}
