"""The execution queue: enqueue, claim with a lease, renew it, find expired leases. How an attempt
ends (finish, requeue) is in `execution_outcomes.py`.

The queue is the `executions` table itself (procrastinate's shape): a queued row is due when its
`available_at` has passed, and the partial index `ix_executions_queue` holds only queued rows, so
claiming stays an index seek however much history accumulates. Results live in
`execution_results`, apart from the rows workers scan.

Claiming is `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL: concurrent claimers in any number of
processes lock disjoint rows and never wait for each other. On SQLite the clause is not rendered;
the claim runs in the single writer's transaction, which excludes every other claimer anyway.

The `status = 'queued'` and `status = 'running'` terms
are SQL literals, not parameters: only then can SQLite and PostgreSQL's generic plans prove the
partial indexes apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import (
    ENFORCEMENT_FOR_EXECUTION,
    ExecutionStatus,
    NewExecution,
)
from tidings.domain.json import JSONValue
from tidings.storage.automation_tables import (
    enforcements,
    execution_attempts,
    executions,
)
from tidings.storage.bulk_insert import BulkInsert

NOTIFY_CHANNEL = "tidings_executions"
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")
_CHANGES_SINCE_ANALYZE = text(
    "SELECT coalesce(max(n_mod_since_analyze), 0) FROM pg_stat_user_tables "
    "WHERE schemaname = current_schema() AND relname IN ('executions', 'enforcements')"
)
_INSERT_COLUMNS = (
    "tenant_id",
    "enforcement_id",
    "rule_id",
    "rule_ref",
    "event_id",
    "action_id",
    "action_ref",
    "runner",
    "entry_point",
    "parameters",
    "sealed_parameters",
    "status",
    "attempts",
    "max_attempts",
    "timeout_seconds",
    "available_at",
    "cancel_requested",
    "created_at",
    "updated_at",
    "subscription_id",
    "retry_schedule",
)
_INSERT = BulkInsert(executions, _INSERT_COLUMNS)
_INSERT_LEASED = BulkInsert(
    executions, (*_INSERT_COLUMNS, "lease_owner", "lease_expires_at", "started_at")
)


def _status_is(status: ExecutionStatus) -> ColumnElement[bool]:
    """`status = '<status>'` as a literal, so the partial indexes match (see module docstring)."""
    return executions.c.status == literal_column(f"'{status.value}'")


QUEUED = _status_is(ExecutionStatus.QUEUED)
RUNNING = _status_is(ExecutionStatus.RUNNING)


@dataclass(frozen=True)
class ClaimedExecution:
    """An execution a worker holds the lease of, with what it needs to run it."""

    id: int
    tenant_id: int
    enforcement_id: int | None
    action_ref: str
    runner: str
    entry_point: str | None
    parameters: JSONValue
    sealed_parameters: bytes | None
    attempt: int
    max_attempts: int
    timeout_seconds: float
    retry_schedule: tuple[float, ...] | None = None


def _schedule(value: Any) -> tuple[float, ...] | None:
    return None if value is None else tuple(float(d) for d in value)


@dataclass(frozen=True)
class LeaseCheck:
    """What a renewal found: the leases still held, and which of them a user asked to cancel."""

    held: frozenset[int]
    cancel_requested: frozenset[int]


@dataclass(frozen=True)
class ExpiredLease:
    """A running execution whose worker stopped renewing its lease."""

    id: int
    worker: str
    attempt: int
    max_attempts: int
    retry_schedule: tuple[float, ...] | None = None


async def insert_executions(
    conn: AsyncConnection, *, rows: Sequence[NewExecution], now: int
) -> list[int]:
    """Enqueue executions (status queued, no attempts yet); their ids, in the order given."""
    return await _INSERT.run(conn, [_values(row, now) for row in rows])


def _values(
    row: NewExecution, now: int, status: ExecutionStatus = ExecutionStatus.QUEUED
) -> tuple[Any, ...]:
    """A new execution's values in `_INSERT_COLUMNS` order (running: its first attempt begun)."""
    return (
        row.tenant_id,
        row.enforcement_id,
        row.rule_id,
        row.rule_ref,
        row.event_id,
        row.action_id,
        row.action_ref,
        row.runner,
        row.entry_point,
        # An execution that failed to render has no parameters to show; the column is NOT NULL.
        {} if row.parameters is None else row.parameters,
        row.sealed_parameters,
        status.value,
        0 if status is ExecutionStatus.QUEUED else 1,
        row.max_attempts,
        row.timeout_seconds,
        row.available_at,
        False,
        now,
        now,
        row.subscription_id,
        None if row.retry_schedule is None else list(row.retry_schedule),
    )


async def insert_leased(
    conn: AsyncConnection,
    *,
    rows: Sequence[NewExecution],
    worker: str,
    now: int,
    lease_ns: int,
    mark_enforcements: bool = True,
) -> list[ClaimedExecution]:
    """Enqueue executions already claimed by `worker` (running, first attempt begun): what a
    claim would have written, in the enqueuing transaction, for a pool in this process that has
    room for them now (`services.execution_dispatch`). Their enforcements are marked running
    unless the caller writes those itself."""
    values = [
        (*_values(row, now, ExecutionStatus.RUNNING), worker, now + lease_ns, now) for row in rows
    ]
    ids = await _INSERT_LEASED.run(conn, values)
    claimed = [
        ClaimedExecution(
            id=execution_id,
            tenant_id=row.tenant_id,
            enforcement_id=row.enforcement_id,
            action_ref=row.action_ref,
            runner=row.runner,
            entry_point=row.entry_point,
            parameters=row.parameters,
            sealed_parameters=row.sealed_parameters,
            attempt=1,
            max_attempts=row.max_attempts,
            timeout_seconds=row.timeout_seconds,
            retry_schedule=row.retry_schedule,
        )
        for execution_id, row in zip(ids, rows, strict=True)
    ]
    await _begin_attempts(
        conn, claimed, worker=worker, now=now, mark_enforcements=mark_enforcements
    )
    return claimed


async def _begin_attempts(
    conn: AsyncConnection,
    claimed: Sequence[ClaimedExecution],
    *,
    worker: str,
    now: int,
    mark_enforcements: bool = True,
) -> None:
    """The attempt rows of just-claimed executions, and their enforcements marked running."""
    await conn.execute(
        execution_attempts.insert(),
        [
            {"execution_id": c.id, "number": c.attempt, "worker": worker, "started_at": now}
            for c in claimed
        ],
    )
    if mark_enforcements:
        await set_enforcements(
            conn,
            ids=[c.enforcement_id for c in claimed if c.enforcement_id is not None],
            status=ExecutionStatus.RUNNING,
            now=now,
        )


async def announce(conn: AsyncConnection) -> None:
    """Wake workers in other processes when this transaction commits (PostgreSQL NOTIFY)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_NOTIFY)


async def fail_unrun(
    conn: AsyncConnection,
    *,
    failures: Sequence[tuple[int, str]],
    now: int,
    mark_enforcements: bool = True,
) -> None:
    """End just-enqueued executions as failed without running them (e.g. a template error);
    their enforcements too, unless the caller writes those itself."""
    for execution_id, message in failures:
        failed = await conn.execute(
            executions.update()
            .where(executions.c.id == execution_id, QUEUED)
            .values(
                status=ExecutionStatus.FAILED.value,
                error=message,
                finished_at=now,
                updated_at=now,
            )
            .returning(executions.c.enforcement_id)
        )
        row = failed.first()
        if mark_enforcements and row is not None and row.enforcement_id is not None:
            await set_enforcements(
                conn, ids=[row.enforcement_id], status=ExecutionStatus.FAILED, now=now
            )


async def claim(
    conn: AsyncConnection, *, worker: str, limit: int, now: int, lease_ns: int
) -> list[ClaimedExecution]:
    """Take up to `limit` due executions, oldest due first, under a lease held by `worker`."""
    due = (
        select(executions.c.id)
        .where(QUEUED, executions.c.available_at <= now)
        .order_by(executions.c.available_at, executions.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = [int(i) for i in (await conn.execute(due)).scalars()]
    if not ids:
        return []
    claimed = await conn.execute(
        executions.update()
        .where(executions.c.id.in_(ids))
        .values(
            status=ExecutionStatus.RUNNING.value,
            attempts=executions.c.attempts + 1,
            lease_owner=worker,
            lease_expires_at=now + lease_ns,
            started_at=func.coalesce(executions.c.started_at, now),
            updated_at=now,
        )
        .returning(
            executions.c.id,
            executions.c.tenant_id,
            executions.c.enforcement_id,
            executions.c.action_ref,
            executions.c.runner,
            executions.c.entry_point,
            executions.c.parameters,
            executions.c.sealed_parameters,
            executions.c.attempts,
            executions.c.max_attempts,
            executions.c.timeout_seconds,
            executions.c.retry_schedule,
        )
    )
    by_id = {
        r.id: ClaimedExecution(
            id=r.id,
            tenant_id=r.tenant_id,
            enforcement_id=r.enforcement_id,
            action_ref=r.action_ref,
            runner=r.runner,
            entry_point=r.entry_point,
            parameters=r.parameters,
            sealed_parameters=r.sealed_parameters,
            attempt=r.attempts,
            max_attempts=r.max_attempts,
            timeout_seconds=r.timeout_seconds,
            retry_schedule=_schedule(r.retry_schedule),
        )
        for r in claimed
    }
    await _begin_attempts(conn, list(by_id.values()), worker=worker, now=now)
    return [by_id[i] for i in ids]


async def renew_leases(
    conn: AsyncConnection, *, worker: str, ids: Sequence[int], now: int, lease_ns: int
) -> LeaseCheck:
    """Extend the leases `worker` still holds among `ids`."""
    if not ids:
        return LeaseCheck(frozenset(), frozenset())
    renewed = await conn.execute(
        executions.update()
        .where(executions.c.id.in_(list(ids)), RUNNING, executions.c.lease_owner == worker)
        .values(lease_expires_at=now + lease_ns)
        .returning(executions.c.id, executions.c.cancel_requested)
    )
    rows = renewed.all()
    return LeaseCheck(
        held=frozenset(r.id for r in rows),
        cancel_requested=frozenset(r.id for r in rows if r.cancel_requested),
    )


async def expired_leases(conn: AsyncConnection, *, now: int, limit: int) -> list[ExpiredLease]:
    """Running executions whose lease ran out before `now` (locked for this transaction)."""
    query = (
        select(
            executions.c.id,
            executions.c.lease_owner,
            executions.c.attempts,
            executions.c.max_attempts,
            executions.c.retry_schedule,
        )
        .where(RUNNING, executions.c.lease_expires_at < now)
        .order_by(executions.c.lease_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        ExpiredLease(
            id=r.id,
            worker=r.lease_owner,
            attempt=r.attempts,
            max_attempts=r.max_attempts,
            retry_schedule=_schedule(r.retry_schedule),
        )
        for r in await conn.execute(query)
    ]


async def changes_since_analyze(conn: AsyncConnection) -> int:
    """PostgreSQL: the most rows changed in the queue's tables since their statistics were last
    gathered (0 on SQLite, whose planner needs none for these queries)."""
    if conn.dialect.name != "postgresql":
        return 0
    return int((await conn.execute(_CHANGES_SINCE_ANALYZE)).scalar_one())


async def analyze(conn: AsyncConnection) -> None:
    """Gather fresh planner statistics for the queue's tables (PostgreSQL; a no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("ANALYZE executions, enforcements"))


async def next_due(conn: AsyncConnection) -> int | None:
    """When the earliest queued execution becomes due (None when the queue is empty)."""
    query = select(func.min(executions.c.available_at)).where(QUEUED)
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def set_enforcements(
    conn: AsyncConnection, *, ids: Sequence[int], status: ExecutionStatus, now: int
) -> None:
    """Move enforcements to the status their execution's `status` implies."""
    if not ids:
        return
    await conn.execute(
        enforcements.update()
        .where(enforcements.c.id.in_(list(ids)))
        .values(status=ENFORCEMENT_FOR_EXECUTION[status].value, updated_at=now)
    )
