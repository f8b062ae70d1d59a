"""Following the event log in commit order, never skipping an event that commits late.

On PostgreSQL two transactions can commit out of id order: a follower that read id 11 and resumes
"after 11" would never see id 10 if 10 commits later. So the stream is ordered by
(`commit_tx`, id), where `commit_tx` is the id of the transaction that wrote the row, and a read
returns only rows written by transactions older than the oldest event writer still running. Every
such writer has finished, and every one that has not can only write rows ordered after it, so a
position taken from a read is final.

Which running transactions write events? Each of our write transactions takes a shared advisory
lock (`take_writer_lock`) before its first write, so before it has a transaction id. The horizon
is the oldest transaction that was running when the read's snapshot was taken, leaving out those
still running now that hold no writer lock: someone else's long transaction (another
application on the same server, a migration, a session left idle in a transaction) does not hold
the stream back. A transaction that finished between the snapshot and the lock check counts, to
be safe: it may have been a writer, and its rows are read on the next poll. The check reads
`pg_locks` (every transaction holds a lock on its own id), which any role may read, once: two
reads could disagree about a writer that finished in between.

On SQLite the single writer commits in id order and `commit_tx` is always 0: the order is the id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    ColumnClause,
    ColumnElement,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Tuple

from tidings.domain.access import Visibility
from tidings.domain.events import Event
from tidings.storage import events as event_store
from tidings.storage.tables import events

Position = tuple[int, int]
# The advisory lock every event-writing transaction holds (shared, so writers never wait).
WRITER_LOCK_KEY = 0x7469_6469_6E67_7331  # "tidingss"
_TAKE_WRITER_LOCK = text(f"SELECT pg_advisory_xact_lock_shared({WRITER_LOCK_KEY})")
_XID32 = 4_294_967_296
# Built from integer constants only (no input reaches it).
PG_HORIZON_SQL = f"""
WITH locks AS MATERIALIZED (
    SELECT pid, locktype, transactionid, classid, objid, objsubid
    FROM pg_locks
    WHERE granted AND locktype IN ('transactionid', 'advisory')
),
outsiders AS (
    SELECT own.transactionid::text::bigint AS xid32
    FROM locks own
    WHERE own.locktype = 'transactionid'
      AND NOT EXISTS (
          SELECT 1 FROM locks writer
          WHERE writer.pid = own.pid
            AND writer.locktype = 'advisory'
            AND writer.classid::bigint = {WRITER_LOCK_KEY >> 32}
            AND writer.objid::bigint = {WRITER_LOCK_KEY & 0xFFFF_FFFF}
            AND writer.objsubid = 1
      )
)
SELECT coalesce(min(running.xid8), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
FROM (
    SELECT x::text::bigint AS xid8 FROM pg_snapshot_xip(pg_current_snapshot()) AS x
) AS running
WHERE running.xid8 % {_XID32} NOT IN (SELECT xid32 FROM outsiders)
"""  # noqa: S608
_PG_HORIZON: ColumnClause[int] = literal_column(f"({PG_HORIZON_SQL})", type_=BigInteger)


async def take_writer_lock(conn: AsyncConnection) -> None:
    """Mark this transaction as an event writer; call it before its first write (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_TAKE_WRITER_LOCK)


@dataclass(frozen=True)
class StreamWindow:
    """What a stream read may return: after one position, before another, within times."""

    after: Position | None = None
    before: Position | None = None
    type: str | None = None
    recorded_from: int | None = None
    recorded_to: int | None = None


def _compare(
    conn: AsyncConnection, position: Tuple, bound: Position, *, after: bool
) -> ColumnElement[bool]:
    """`position > bound` (or `<`), in a form the engine's index can seek on.

    SQLite 3.40 seeks a row-value comparison on its first column only, which is always 0 there,
    so it would scan the stream from its start; every SQLite position is (0, id), so comparing the
    id alone is exact.
    """
    if conn.dialect.name == "sqlite":
        return events.c.id > bound[1] if after else events.c.id < bound[1]
    limit = tuple_(*bound)
    comparison: ColumnElement[bool] = position > limit if after else position < limit
    return comparison


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


def _readable(conn: AsyncConnection, tenant_id: int) -> list[ColumnElement[bool]]:
    """The tenant's rows a follower may read now: on PostgreSQL, those below the horizon."""
    clauses: list[ColumnElement[bool]] = [events.c.tenant_id == tenant_id]
    if conn.dialect.name == "postgresql":
        clauses.append(events.c.commit_tx < _PG_HORIZON)
    return clauses


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
    clauses = _readable(conn, tenant_id)
    if window.after is not None:
        clauses.append(_compare(conn, position, window.after, after=True))
    if window.before is not None:
        clauses.append(_compare(conn, position, window.before, after=False))
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


async def last_position(
    conn: AsyncConnection, *, tenant_id: int, before: Position | None = None
) -> Position:
    """The last readable position (below the horizon, and before `before`), or (0, 0)."""
    clauses = _readable(conn, tenant_id)
    if before is not None:
        position = tuple_(events.c.commit_tx, events.c.id)
        clauses.append(_compare(conn, position, before, after=False))
    query = (
        select(events.c.commit_tx, events.c.id)
        .where(*clauses)
        .order_by(events.c.commit_tx.desc(), events.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return (0, 0) if row is None else (row.commit_tx, row.id)


async def last_recorded_before(
    conn: AsyncConnection, *, tenant_id: int, recorded_at: int
) -> Position | None:
    """The stream position of the last event recorded before `recorded_at`."""
    query = (
        select(events.c.commit_tx, events.c.id)
        .where(events.c.tenant_id == tenant_id, events.c.recorded_at < recorded_at)
        .order_by(events.c.recorded_at.desc(), events.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else (row.commit_tx, row.id)
