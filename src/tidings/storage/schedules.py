"""Schedules and their fires (issue 5): the rows behind `/api/v1/schedules`, Socotra's scheduled
policy events and failed jobs, and the scheduler's queue.

The queue is the `schedules` table itself: a schedule in state NORMAL is due when its
`next_fire_at` has passed, and the partial index `ix_schedules_due` holds only those rows, so
finding due work stays an index seek however many paused or finished schedules there are. On
PostgreSQL, due schedules are taken `FOR UPDATE SKIP LOCKED`: schedulers in any number of
processes take disjoint rows and never wait for each other.

The fires themselves are in `schedule_fires.py`. The `state` terms of the due query are SQL
literals, not parameters: only then can the planners prove the partial index applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from tidings.domain.schedule_times import TriggerState
from tidings.storage.delivery_tables import schedule_fires, schedules
from tidings.storage.tables import principals

_creator = principals.alias("creator")
_resumer = principals.alias("resumer")
_NORMAL = schedules.c.state == literal_column(f"'{TriggerState.NORMAL.value}'")
_BLOCKED = schedules.c.state == literal_column(f"'{TriggerState.BLOCKED.value}'")


@dataclass(frozen=True)
class ScheduleRow:
    """One schedule as stored, with the locators of who created and who last resumed it."""

    id: int
    tenant_id: int
    name: str
    group_name: str
    description: str | None
    timing: str
    cron: str | None
    interval_seconds: float | None
    start_at: int | None
    end_at: int | None
    time_zone: str
    misfire: str
    concurrent: bool
    state: str
    next_fire_at: int | None
    last_fire_at: int | None
    policy_locator: str | None
    transaction_locator: str | None
    custom_event_id: str | None
    event_type: str
    event: dict[str, Any]
    failure_count: int
    failed_job_state: str | None
    failed_job_created_at: int | None
    failed_job_updated_at: int | None
    last_error: str | None
    resumed_by: int | None
    resumed_at: int | None
    created_by: int | None
    created_at: int
    updated_at: int
    created_by_locator: str | None = None
    resumed_by_locator: str | None = None


def _row(r: Row[Any]) -> ScheduleRow:
    m = r._mapping
    values = {name: m[name] for name in ScheduleRow.__dataclass_fields__ if name in m}
    values["concurrent"] = bool(values["concurrent"])
    return ScheduleRow(**values)


def _select() -> Select[Any]:
    return (
        select(
            schedules,
            _creator.c.locator.label("created_by_locator"),
            _resumer.c.locator.label("resumed_by_locator"),
        )
        .outerjoin(_creator, _creator.c.id == schedules.c.created_by)
        .outerjoin(_resumer, _resumer.c.id == schedules.c.resumed_by)
    )


async def insert_schedule(conn: AsyncConnection, *, values: dict[str, Any]) -> int:
    """Store a new schedule; a taken name in its group raises IntegrityError (unique key)."""
    result = await conn.execute(schedules.insert().returning(schedules.c.id), values)
    return int(result.scalar_one())


async def get_schedule(
    conn: AsyncConnection, *, tenant_id: int, schedule_id: int
) -> ScheduleRow | None:
    """A tenant's schedule by id (another tenant's is None)."""
    query = _select().where(schedules.c.tenant_id == tenant_id, schedules.c.id == schedule_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _row(row)


async def find_by_key(
    conn: AsyncConnection, *, tenant_id: int, name: str, group: str
) -> ScheduleRow | None:
    """A tenant's schedule by Quartz's job key: its name within its group."""
    query = _select().where(
        schedules.c.tenant_id == tenant_id,
        schedules.c.group_name == group,
        schedules.c.name == name,
    )
    row = (await conn.execute(query)).first()
    return None if row is None else _row(row)


@dataclass(frozen=True)
class ScheduleFilter:
    """What a list narrows to; None matches everything."""

    group: str | None = None
    policy_locator: str | None = None
    state: str | None = None
    failed_job_state: str | None = None
    failed_only: bool = False


def _where(tenant_id: int, flt: ScheduleFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [schedules.c.tenant_id == tenant_id]
    if flt.group is not None:
        clauses.append(schedules.c.group_name == flt.group)
    if flt.policy_locator is not None:
        clauses.append(schedules.c.policy_locator == flt.policy_locator)
    if flt.state is not None:
        clauses.append(schedules.c.state == flt.state)
    if flt.failed_job_state is not None:
        clauses.append(schedules.c.failed_job_state == flt.failed_job_state)
    elif flt.failed_only:
        clauses.append(schedules.c.failed_job_state.is_not(None))
    return clauses


async def list_schedules(
    conn: AsyncConnection, *, tenant_id: int, flt: ScheduleFilter, offset: int, limit: int
) -> list[ScheduleRow]:
    """A page of a tenant's schedules, oldest first."""
    query = (
        _select()
        .where(*_where(tenant_id, flt))
        .order_by(schedules.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [_row(r) for r in await conn.execute(query)]


async def count_schedules(conn: AsyncConnection, *, tenant_id: int, flt: ScheduleFilter) -> int:
    """How many of a tenant's schedules a filter matches."""
    query = select(func.count()).select_from(schedules).where(*_where(tenant_id, flt))
    return int((await conn.execute(query)).scalar_one())


async def update_schedule(
    conn: AsyncConnection, *, tenant_id: int, schedule_id: int, values: Mapping[str, Any]
) -> bool:
    """Set `values` on a tenant's schedule; False when there is no such schedule."""
    statement = (
        update(schedules)
        .where(schedules.c.tenant_id == tenant_id, schedules.c.id == schedule_id)
        .values(**values)
    )
    return (await conn.execute(statement)).rowcount == 1


async def delete_schedule(conn: AsyncConnection, *, tenant_id: int, schedule_id: int) -> bool:
    """Remove a schedule and its fire rows (the events it recorded stay)."""
    await conn.execute(delete(schedule_fires).where(schedule_fires.c.schedule_id == schedule_id))
    statement = delete(schedules).where(
        schedules.c.tenant_id == tenant_id, schedules.c.id == schedule_id
    )
    return (await conn.execute(statement)).rowcount == 1


# -- the scheduler's side -----------------------------------------------------------------------


async def claim_due(
    conn: AsyncConnection, *, now: int, limit: int, lock: bool
) -> list[ScheduleRow]:
    """Up to `limit` NORMAL schedules whose next fire has come, earliest first; with `lock`
    (PostgreSQL), locked for this transaction and skipping those another scheduler holds."""
    due = (
        select(schedules.c.id)
        .where(_NORMAL, schedules.c.next_fire_at.is_not(None), schedules.c.next_fire_at <= now)
        .order_by(schedules.c.next_fire_at, schedules.c.id)
        .limit(limit)
    )
    if lock:
        due = due.with_for_update(skip_locked=True)
    ids = [int(i) for i in (await conn.execute(due)).scalars()]
    if not ids:
        return []
    found = await conn.execute(_select().where(schedules.c.id.in_(ids)))
    rows = {r.id: r for r in map(_row, found)}
    return [rows[i] for i in ids if i in rows]


async def blocked(conn: AsyncConnection, *, limit: int, lock: bool) -> list[ScheduleRow]:
    """Schedules waiting for their previous fire's runs (state BLOCKED), oldest first."""
    query = select(schedules.c.id).where(_BLOCKED).order_by(schedules.c.id).limit(limit)
    if lock:
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in (await conn.execute(query)).scalars()]
    if not ids:
        return []
    return [_row(r) for r in await conn.execute(_select().where(schedules.c.id.in_(ids)))]


async def next_due(conn: AsyncConnection) -> int | None:
    """When the earliest NORMAL schedule fires next (None when none will)."""
    query = select(func.min(schedules.c.next_fire_at)).where(
        _NORMAL, schedules.c.next_fire_at.is_not(None)
    )
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def advance(
    conn: AsyncConnection,
    *,
    schedule_id: int,
    seen_state: str,
    seen_next: int | None,
    values: Mapping[str, Any],
) -> bool:
    """Write what a fire decided, unless the schedule changed since it was read (a pause or an
    edit in between wins); whether it was written."""
    next_clause = (
        schedules.c.next_fire_at.is_(None)
        if seen_next is None
        else schedules.c.next_fire_at == seen_next
    )
    statement = (
        update(schedules)
        .where(schedules.c.id == schedule_id, schedules.c.state == seen_state, next_clause)
        .values(**values)
    )
    return (await conn.execute(statement)).rowcount == 1


async def advance_many(
    conn: AsyncConnection, *, changes: Sequence[tuple[int, str, int, Mapping[str, Any]]]
) -> None:
    """`advance` for many due schedules, as (id, seen state, seen next fire, values): one
    statement per set of columns, executed for every row that sets them."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for schedule_id, seen_state, seen_next, values in changes:
        params = {f"v_{k}": v for k, v in values.items()}
        params.update(b_id=schedule_id, b_state=seen_state, b_next=seen_next)
        groups.setdefault(tuple(sorted(values)), []).append(params)
    for columns, rows in groups.items():
        statement = (
            update(schedules)
            .where(
                schedules.c.id == bindparam("b_id"),
                schedules.c.state == bindparam("b_state"),
                schedules.c.next_fire_at == bindparam("b_next"),
            )
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
        await conn.execute(statement, rows)
