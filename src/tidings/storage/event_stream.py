"""Following the event log in commit order, never skipping an event that commits late.

On PostgreSQL two transactions can commit out of id order: a follower that read id 11 and resumes
"after 11" would never see id 10 if 10 commits later. So the stream is ordered by
(`commit_tx`, id), where `commit_tx` is the id of the transaction that wrote the row, and a read
returns only rows written by transactions older than the oldest one still running
(`pg_snapshot_xmin`). Every transaction below that horizon has finished, and every transaction
that has not can only write rows ordered after it, so a position taken from a read is final.

On SQLite the single writer commits in id order and `commit_tx` is always 0: the order is the id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, ColumnClause, ColumnElement, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility
from tidings.domain.events import Event
from tidings.storage import events as event_store
from tidings.storage.tables import events

Position = tuple[int, int]
_PG_HORIZON: ColumnClause[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", type_=BigInteger
)


@dataclass(frozen=True)
class StreamWindow:
    """What a stream read may return: after one position, before another, within times."""

    after: Position | None = None
    before: Position | None = None
    type: str | None = None
    recorded_from: int | None = None
    recorded_to: int | None = None


async def first_recorded_at_or_after(
    conn: AsyncConnection, *, tenant_id: int, recorded_at: int
) -> Position | None:
    """The stream position of the first event recorded at or after `recorded_at`."""
    query = (
        select(events.c.commit_tx, events.c.id)
        .where(events.c.tenant_id == tenant_id, events.c.recorded_at >= recorded_at)
        .order_by(events.c.recorded_at, events.c.id)
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (row.commit_tx, row.id)


async def read_stream(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    window: StreamWindow,
    visibility: Visibility,
    limit: int,
) -> list[tuple[Position, Event]]:
    """Up to `limit` events in stream order, each with its position."""
    position = tuple_(events.c.commit_tx, events.c.id)
    clauses: list[ColumnElement[bool]] = [events.c.tenant_id == tenant_id]
    if conn.dialect.name == "postgresql":
        clauses.append(events.c.commit_tx < select(_PG_HORIZON).scalar_subquery())
    if window.after is not None:
        clauses.append(position > tuple_(*window.after))
    if window.before is not None:
        clauses.append(position < tuple_(*window.before))
    if window.type is not None:
        clauses.append(events.c.type == window.type)
    if window.recorded_from is not None:
        clauses.append(events.c.recorded_at >= window.recorded_from)
    if window.recorded_to is not None:
        clauses.append(events.c.recorded_at <= window.recorded_to)
    seen = event_store.visibility_clause(visibility)
    if seen is not None:
        clauses.append(seen)
    query = (
        event_store.full_select()
        .add_columns(events.c.commit_tx)
        .where(*clauses)
        .order_by(events.c.commit_tx, events.c.id)
        .limit(limit)
    )
    return [
        ((row.commit_tx, row.id), event_store.to_event(row)) for row in await conn.execute(query)
    ]


async def last_position(conn: AsyncConnection, *, tenant_id: int) -> Position:
    """The position after which every event not yet readable will appear."""
    clauses: list[ColumnElement[bool]] = [events.c.tenant_id == tenant_id]
    if conn.dialect.name == "postgresql":
        clauses.append(events.c.commit_tx < select(_PG_HORIZON).scalar_subquery())
    query = (
        select(events.c.commit_tx, events.c.id)
        .where(*clauses)
        .order_by(events.c.commit_tx.desc(), events.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return (0, 0) if row is None else (row.commit_tx, row.id)
