"""Executions as readers and operators see them: filtered pages, one with its attempts and
result, and the operator's cancel and retry. Every query is scoped to one tenant.

Pages are newest first by id, keyed on the id (keyset) or numbered (offset, for exact totals),
each filter served by one of the `(tenant_id, …, id)` indexes on `executions`.

Visibility follows the event, as for enforcements: an execution caused by an event is visible
exactly when its event is (a deleted event's executions are left to admins); one that no event
caused is visible to every reader of the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, String, exists, func, literal, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Visibility
from tidings.domain.automation import Attempt, Execution, ExecutionStatus
from tidings.storage.automation_tables import (
    actions,
    execution_attempts,
    execution_results,
    executions,
)
from tidings.storage.events import visibility_clause
from tidings.storage.execution_outcomes import save_result
from tidings.storage.executions import set_enforcements
from tidings.storage.tables import events

# The request id of an event emitted by an execution's `emit_event`: this prefix and its id.
EMITTED_PREFIX = "execution-"

_COLUMNS = tuple(
    c
    for c in executions.c
    if c.name
    not in ("tenant_id", "sealed_parameters", "entry_point", "lease_owner", "lease_expires_at")
)


_GAVE_UP = (ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value)


@dataclass(frozen=True)
class ExecutionFilter:
    """What a list of executions may be narrowed by; times bound `created_at`, inclusive."""

    enforcement_id: int | None = None
    action_ref: str | None = None
    status: ExecutionStatus | None = None
    created_from: int | None = None
    created_to: int | None = None
    subscription_id: int | None = None  # a subscription's deliveries
    deliveries_only: bool = False
    actions_only: bool = False  # no deliveries
    failed_only: bool = False  # gave up: failed or timed out (the failed jobs)


@dataclass(frozen=True)
class ExecutionState:
    """What cancel and retry decide on: where an execution is in its lifecycle."""

    id: int
    status: ExecutionStatus
    attempts: int
    action_id: int | None
    enforcement_id: int | None


def _to_execution(r: Row[Any], attempts: tuple[Attempt, ...] = ()) -> Execution:
    return Execution(
        id=r.id,
        enforcement_id=r.enforcement_id,
        rule_id=r.rule_id,
        rule_ref=r.rule_ref,
        event_id=r.event_id,
        action_id=r.action_id,
        action_ref=r.action_ref,
        runner=r.runner,
        parameters=r.parameters,
        status=ExecutionStatus(r.status),
        attempts=r.attempts,
        max_attempts=r.max_attempts,
        timeout_seconds=r.timeout_seconds,
        available_at=r.available_at,
        error=r.error,
        result_size=r.result_size,
        started_at=r.started_at,
        finished_at=r.finished_at,
        created_at=r.created_at,
        updated_at=r.updated_at,
        attempt_log=attempts,
        subscription_id=r.subscription_id,
    )


def _visible(tenant_id: int, visibility: Visibility) -> list[ColumnElement[bool]]:
    clause = visibility_clause(visibility)
    if clause is None:
        return []
    event_visible = exists().where(
        events.c.id == executions.c.event_id, events.c.tenant_id == tenant_id, clause
    )
    return [or_(executions.c.event_id.is_(None), event_visible)]


def _conditions(
    tenant_id: int, flt: ExecutionFilter, visibility: Visibility
) -> list[ColumnElement[bool]]:
    where = [executions.c.tenant_id == tenant_id, *_visible(tenant_id, visibility)]
    if flt.enforcement_id is not None:
        where.append(executions.c.enforcement_id == flt.enforcement_id)
    if flt.action_ref is not None:
        where.append(executions.c.action_ref == flt.action_ref)
    if flt.status is not None:
        where.append(executions.c.status == flt.status.value)
    if flt.created_from is not None:
        where.append(executions.c.created_at >= flt.created_from)
    if flt.created_to is not None:
        where.append(executions.c.created_at <= flt.created_to)
    if flt.subscription_id is not None:
        where.append(executions.c.subscription_id == flt.subscription_id)
    elif flt.deliveries_only:
        where.append(executions.c.subscription_id.is_not(None))
    if flt.actions_only:
        where.append(executions.c.subscription_id.is_(None))
    if flt.failed_only:
        where.append(executions.c.status.in_(_GAVE_UP))
    return where


async def list_executions(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    flt: ExecutionFilter,
    visibility: Visibility,
    limit: int,
    offset: int = 0,
    before_id: int | None = None,
) -> list[Execution]:
    """Newest first: a numbered page (`offset`) or the page below `before_id` (keyset)."""
    where = _conditions(tenant_id, flt, visibility)
    if before_id is not None:
        where.append(executions.c.id < before_id)
    query: Select[Any] = (
        select(*_COLUMNS).where(*where).order_by(executions.c.id.desc()).limit(limit)
    )
    if offset:
        query = query.offset(offset)
    return [_to_execution(r) for r in await conn.execute(query)]


async def count_executions(
    conn: AsyncConnection, *, tenant_id: int, flt: ExecutionFilter, visibility: Visibility
) -> int:
    """How many executions the filter matches."""
    where = _conditions(tenant_id, flt, visibility)
    query = select(func.count()).select_from(executions).where(*where)
    return int((await conn.execute(query)).scalar_one())


async def get_execution(
    conn: AsyncConnection, *, tenant_id: int, execution_id: int, visibility: Visibility
) -> Execution | None:
    """One execution with its attempts, oldest first."""
    query = select(*_COLUMNS).where(
        executions.c.tenant_id == tenant_id,
        executions.c.id == execution_id,
        *_visible(tenant_id, visibility),
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    attempts = await conn.execute(
        select(execution_attempts)
        .where(execution_attempts.c.execution_id == execution_id)
        .order_by(execution_attempts.c.number)
    )
    return _to_execution(
        row,
        tuple(
            Attempt(
                number=a.number,
                worker=a.worker,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                error=a.error,
                detail=a.detail,
            )
            for a in attempts
        ),
    )


async def get_result(conn: AsyncConnection, *, execution_id: int) -> bytes | None:
    """The stored result of an execution (JSON bytes), if it has one."""
    query = select(execution_results.c.content).where(
        execution_results.c.execution_id == execution_id
    )
    content = (await conn.execute(query)).scalar()
    return None if content is None else bytes(content)


async def lock_state(
    conn: AsyncConnection, *, tenant_id: int, execution_id: int, visibility: Visibility
) -> ExecutionState | None:
    """An execution's state, locked until the transaction ends (PostgreSQL; SQLite's writer
    transaction excludes other writers anyway)."""
    query = (
        select(
            executions.c.id,
            executions.c.status,
            executions.c.attempts,
            executions.c.action_id,
            executions.c.enforcement_id,
        )
        .where(
            executions.c.tenant_id == tenant_id,
            executions.c.id == execution_id,
            *_visible(tenant_id, visibility),
        )
        .with_for_update(of=executions)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return ExecutionState(
        id=row.id,
        status=ExecutionStatus(row.status),
        attempts=row.attempts,
        action_id=row.action_id,
        enforcement_id=row.enforcement_id,
    )


async def action_max_attempts(conn: AsyncConnection, *, action_id: int) -> int | None:
    """The attempt budget an action declares, if the action still exists and declares one."""
    query = select(actions.c.max_attempts).where(actions.c.id == action_id)
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def cancel_queued(
    conn: AsyncConnection, *, state: ExecutionState, error: str, now: int
) -> None:
    """End a queued execution as cancelled."""
    await conn.execute(
        executions.update()
        .where(executions.c.id == state.id)
        .values(
            status=ExecutionStatus.CANCELLED.value,
            error=error,
            finished_at=now,
            updated_at=now,
        )
    )
    if state.enforcement_id is not None:
        await set_enforcements(
            conn, ids=[state.enforcement_id], status=ExecutionStatus.CANCELLED, now=now
        )


async def request_cancel(conn: AsyncConnection, *, execution_id: int, now: int) -> None:
    """Ask the worker running an execution to stop it (it sees this when it renews its lease)."""
    await conn.execute(
        executions.update()
        .where(executions.c.id == execution_id)
        .values(cancel_requested=True, updated_at=now)
    )


async def requeue_finished(
    conn: AsyncConnection, *, state: ExecutionState, max_attempts: int, now: int
) -> None:
    """Queue a finished execution again, due now, with `max_attempts` in all."""
    await conn.execute(
        executions.update()
        .where(executions.c.id == state.id)
        .values(
            status=ExecutionStatus.QUEUED.value,
            max_attempts=max_attempts,
            available_at=now,
            error=None,
            cancel_requested=False,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=None,
            result_size=None,
            updated_at=now,
        )
    )
    await save_result(conn, execution_id=state.id, content=None)
    if state.enforcement_id is not None:
        await set_enforcements(
            conn, ids=[state.enforcement_id], status=ExecutionStatus.QUEUED, now=now
        )


async def emission_chain(conn: AsyncConnection, *, execution_id: int, limit: int) -> list[int]:
    """The executions whose `emit_event` led to this one, nearest first, at most `limit`.

    An execution's event may itself have been emitted by an execution (its request id is
    `execution-<id>`, workers/emitter.py); following those links backwards measures how deep an
    emission chain already is, one primary-key read a link.
    """
    chain: list[int] = []
    current = execution_id
    while len(chain) < limit:
        query = (
            select(events.c.request_id)
            .select_from(executions)
            .join(events, events.c.id == executions.c.event_id)
            .where(executions.c.id == current)
        )
        request_id = (await conn.execute(query)).scalar_one_or_none()
        parent = _emitting_execution(request_id)
        if parent is None or parent in chain or parent == execution_id:
            break
        chain.append(parent)
        current = parent
    return chain


def _emitting_execution(request_id: str | None) -> int | None:
    """The execution an emitted event's request id names, if it names one."""
    if request_id is None or not request_id.startswith(EMITTED_PREFIX):
        return None
    digits = request_id.removeprefix(EMITTED_PREFIX)
    return int(digits) if digits.isdigit() else None


async def dismiss_failed(
    conn: AsyncConnection, *, tenant_id: int, ids: list[int], reason: str, now: int
) -> int:
    """End failed (or timed-out) executions as cancelled, saying who dismissed them and what
    the failure was: they leave the failed jobs and are never retried. How many were."""
    if not ids:
        return 0
    result = await conn.execute(
        executions.update()
        .where(
            executions.c.tenant_id == tenant_id,
            executions.c.id.in_(ids),
            executions.c.status.in_(_GAVE_UP),
        )
        .values(
            status=ExecutionStatus.CANCELLED.value,
            error=literal(f"{reason}; it had failed: ", String)
            + func.coalesce(executions.c.error, ""),
            updated_at=now,
        )
    )
    return int(result.rowcount or 0)
