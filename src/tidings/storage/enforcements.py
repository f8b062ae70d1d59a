"""Enforcement rows: written by ingest (one per rule evaluated), read by the Attune query API.

Reads apply the reader's event visibility: an enforcement is history about an event, so it is
visible exactly when its event is (a reader who cannot see a restricted event cannot see which
rules it matched either; enforcements of a deleted event are left to admins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility
from tidings.domain.automation import ConditionOutcome, Enforcement, EnforcementStatus
from tidings.domain.json import JSONObject, JSONValue
from tidings.storage.automation_tables import enforcements, executions
from tidings.storage.bulk_insert import BulkInsert
from tidings.storage.events import visibility_clause
from tidings.storage.tables import events

INSERT_COLUMNS = (
    "tenant_id",
    "rule_id",
    "rule_ref",
    "trigger_ref",
    "event_id",
    "status",
    "condition",
    "conditions",
    "created_at",
    "updated_at",
)
_INSERT = BulkInsert(enforcements, INSERT_COLUMNS)


@dataclass(frozen=True)
class EnforcementFilter:
    """The query parameters of `GET /api/v1/enforcements`."""

    rule_id: int | None = None
    event_id: int | None = None
    status: str | None = None
    trigger_ref: str | None = None
    start: int | None = None
    end: int | None = None


async def insert_enforcements(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Insert rows whose values follow INSERT_COLUMNS; their ids in the same order."""
    return await _INSERT.run(conn, rows)


def to_enforcement(r: Row[Any, *tuple[Any, ...]]) -> Enforcement:
    """A row as a value."""
    return Enforcement(
        id=r.id,
        rule_id=r.rule_id,
        rule_ref=r.rule_ref,
        trigger_ref=r.trigger_ref,
        event_id=r.event_id,
        status=EnforcementStatus(r.status),
        condition=ConditionOutcome(r.condition),
        conditions=dict(r.conditions or {}),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _visible(query: Select[Any], tenant_id: int, visibility: Visibility) -> Select[Any]:
    clause = visibility_clause(visibility)
    if clause is None:
        return query
    return query.join(
        events, (events.c.id == enforcements.c.event_id) & (events.c.tenant_id == tenant_id)
    ).where(clause)


def _where(tenant_id: int, flt: EnforcementFilter) -> list[ColumnElement[bool]]:
    c = enforcements.c
    clauses: list[ColumnElement[bool]] = [c.tenant_id == tenant_id]
    if flt.rule_id is not None:
        clauses.append(c.rule_id == flt.rule_id)
    if flt.event_id is not None:
        clauses.append(c.event_id == flt.event_id)
    if flt.status is not None:
        clauses.append(c.status == flt.status)
    if flt.trigger_ref is not None:
        clauses.append(c.trigger_ref == flt.trigger_ref)
    if flt.start is not None:
        clauses.append(c.created_at >= flt.start)
    if flt.end is not None:
        clauses.append(c.created_at <= flt.end)
    return clauses


@dataclass(frozen=True)
class EnforcementDetail:
    """An enforcement with what its detail view shows beside it."""

    enforcement: Enforcement
    payload: JSONObject | None  # its event's payload (None when the event is gone)
    execution_id: int | None
    parameters: JSONValue  # the execution's redacted parameters


async def get_enforcement(
    conn: AsyncConnection, *, tenant_id: int, enforcement_id: int, visibility: Visibility
) -> EnforcementDetail | None:
    """An enforcement with its event's payload and its execution, if the reader may see it."""
    query = (
        select(
            *enforcements.c,
            events.c.payload.label("event_payload"),
            executions.c.id.label("execution_id"),
            executions.c.parameters.label("execution_parameters"),
        )
        .select_from(enforcements)
        .outerjoin(
            events,
            (events.c.id == enforcements.c.event_id) & (events.c.tenant_id == tenant_id),
        )
        .outerjoin(
            executions,
            (executions.c.enforcement_id == enforcements.c.id)
            & (executions.c.tenant_id == tenant_id),
        )
        .where(enforcements.c.tenant_id == tenant_id, enforcements.c.id == enforcement_id)
        .order_by(executions.c.id)
        .limit(1)
    )
    clause = visibility_clause(visibility)
    if clause is not None:
        query = query.where(events.c.id.is_not(None), clause)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return EnforcementDetail(
        to_enforcement(row), row.event_payload, row.execution_id, row.execution_parameters
    )


async def list_enforcements(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    flt: EnforcementFilter,
    visibility: Visibility,
    limit: int,
    offset: int = 0,
    before_id: int | None = None,
) -> list[Enforcement]:
    """Newest first (by id); after a cursor position when `before_id` is given."""
    where = _where(tenant_id, flt)
    if before_id is not None:
        where.append(enforcements.c.id < before_id)
    query = _visible(select(*enforcements.c).where(*where), tenant_id, visibility)
    query = query.order_by(enforcements.c.id.desc()).offset(offset).limit(limit)
    return [to_enforcement(r) for r in await conn.execute(query)]


async def count_enforcements(
    conn: AsyncConnection, *, tenant_id: int, flt: EnforcementFilter, visibility: Visibility
) -> int:
    """How many enforcements match (for exact page totals)."""
    query = _visible(
        select(func.count()).select_from(enforcements).where(*_where(tenant_id, flt)),
        tenant_id,
        visibility,
    )
    return int((await conn.execute(query)).scalar_one())
