"""Enforcements: rows written by ingest for the rules that passed, merged on read with the
compact records of the rules that did not (rule_misses.py), for the Attune query API.

Reads apply the reader's event visibility: an enforcement is history about an event, so it is
visible exactly when its event is (a reader who cannot see a restricted event cannot see which
rules it matched either; enforcements of a deleted event are left to admins).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility
from tidings.domain.automation import ConditionOutcome, Enforcement, EnforcementStatus
from tidings.domain.json import JSONObject, JSONValue
from tidings.storage import rule_misses
from tidings.storage.automation_tables import enforcements, executions
from tidings.storage.bulk_insert import BulkInsert
from tidings.storage.events import visibility_clause
from tidings.storage.tables import events

INSERT_COLUMNS = (
    "id",
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


# Rows read at a time while merging the two kinds (a page's worth when the page is small).
_CHUNK = 500


async def insert_enforcements(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows whose values follow INSERT_COLUMNS (ids from domain/enforcement_ids.py)."""
    await _INSERT.write(conn, rows)


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
    found = await _get_row(
        conn, tenant_id=tenant_id, enforcement_id=enforcement_id, visibility=visibility
    )
    if found is not None:
        return found
    missed = await rule_misses.get_missed(
        conn, tenant_id=tenant_id, enforcement=enforcement_id, visibility=visibility
    )
    if missed is None:
        return None
    return EnforcementDetail(missed[0], missed[1], None, None)


async def _get_row(
    conn: AsyncConnection, *, tenant_id: int, enforcement_id: int, visibility: Visibility
) -> EnforcementDetail | None:
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


async def _miss_filter(
    conn: AsyncConnection, tenant_id: int, flt: EnforcementFilter
) -> rule_misses.MissFilter | None:
    """The same query of the compact records; None when none of theirs can match (they hold
    completed enforcements only)."""
    if flt.status is not None and flt.status != EnforcementStatus.COMPLETED.value:
        return None
    rule = None
    if flt.rule_id is not None:
        rule = await rule_misses.places_of_rule(conn, tenant_id, flt.rule_id)
    return rule_misses.MissFilter(
        tenant_id=tenant_id,
        event_id=flt.event_id,
        trigger_ref=flt.trigger_ref,
        start=flt.start,
        end=flt.end,
        rule=rule,
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
    """Newest first (by id); after a cursor position when `before_id` is given.

    Both kinds are read newest first in chunks and merged, skipping `offset` on the way: a deep
    page costs a walk as SQL's OFFSET does, in bounded memory (the cursor is the fast way down).
    """
    chunk = min(offset + limit, _CHUNK)
    misses = await _miss_filter(conn, tenant_id, flt)
    rows = _rows(conn, tenant_id, flt, visibility, chunk, before_id)
    missed = _missed(conn, misses, visibility, chunk, before_id)
    found: list[Enforcement] = []
    index = 0
    async for item in _merge_newest_first(rows, missed):
        if index >= offset:
            found.append(item)
            if len(found) == limit:
                break
        index += 1
    return found


async def _rows(
    conn: AsyncConnection,
    tenant_id: int,
    flt: EnforcementFilter,
    visibility: Visibility,
    chunk: int,
    before_id: int | None,
) -> AsyncIterator[Enforcement]:
    while True:
        where = _where(tenant_id, flt)
        if before_id is not None:
            where.append(enforcements.c.id < before_id)
        query = _visible(select(*enforcements.c).where(*where), tenant_id, visibility)
        rows = (await conn.execute(query.order_by(enforcements.c.id.desc()).limit(chunk))).all()
        for row in rows:
            yield to_enforcement(row)
        if len(rows) < chunk:
            return
        before_id = int(rows[-1].id)


async def _missed(
    conn: AsyncConnection,
    flt: rule_misses.MissFilter | None,
    visibility: Visibility,
    chunk: int,
    before_id: int | None,
) -> AsyncIterator[Enforcement]:
    if flt is None:
        return
    while True:
        items = await rule_misses.list_missed(
            conn, flt, visibility, before_id=before_id, limit=chunk
        )
        for item in items:
            yield item
        if not items:
            return
        before_id = items[-1].id


async def _merge_newest_first(
    a: AsyncIterator[Enforcement], b: AsyncIterator[Enforcement]
) -> AsyncIterator[Enforcement]:
    """Two streams ordered by descending id, as one (the kinds never share an id)."""
    head_a = await anext(a, None)
    head_b = await anext(b, None)
    while head_a is not None or head_b is not None:
        if head_b is None or (head_a is not None and head_a.id > head_b.id):
            assert head_a is not None
            yield head_a
            head_a = await anext(a, None)
        else:
            yield head_b
            head_b = await anext(b, None)


async def count_enforcements(
    conn: AsyncConnection, *, tenant_id: int, flt: EnforcementFilter, visibility: Visibility
) -> int:
    """How many enforcements match (for exact page totals)."""
    query = _visible(
        select(func.count()).select_from(enforcements).where(*_where(tenant_id, flt)),
        tenant_id,
        visibility,
    )
    total = int((await conn.execute(query)).scalar_one())
    misses = await _miss_filter(conn, tenant_id, flt)
    if misses is not None:
        total += await rule_misses.count_misses(conn, misses, visibility)
    return total
