"""How an attempt ends: the execution finishes (succeeded, failed, timed out, cancelled) or goes
back on the queue (a retry after backoff, a release by a stopping worker, an expired lease).

Every change is guarded by the lease owner and the attempt number (`_held`), so a worker that lost
its lease — it stalled past the expiry and the row went back on the queue — records nothing over
the attempt that replaced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, delete, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import ExecutionStatus
from tidings.domain.json import JSONObject
from tidings.storage.automation_tables import execution_attempts, execution_results, executions
from tidings.storage.executions import RUNNING, set_enforcements

_END_ATTEMPT = (
    execution_attempts.update()
    .where(
        execution_attempts.c.execution_id == bindparam("b_id"),
        execution_attempts.c.number == bindparam("b_number"),
    )
    .values(
        finished_at=bindparam("b_finished"),
        outcome=bindparam("b_outcome"),
        error=bindparam("b_error"),
        detail=bindparam("b_detail"),
    )
)
_SET_RESULT_SIZE = (
    executions.update()
    .where(executions.c.id == bindparam("b_id"))
    .values(result_size=bindparam("b_size"))
)


def _held(execution_id: int, worker: str, attempt: int) -> list[ColumnElement[bool]]:
    """The execution is running under `worker`'s lease, in attempt `attempt`."""
    return [
        executions.c.id == execution_id,
        RUNNING,
        executions.c.lease_owner == worker,
        executions.c.attempts == attempt,
    ]


@dataclass(frozen=True)
class Finished:
    """How one attempt ended an execution, to record."""

    execution_id: int
    worker: str
    attempt: int
    status: ExecutionStatus
    outcome: str
    error: str | None = None
    result: bytes | None = None
    detail: JSONObject | None = None  # what the attempt saw (a delivery's response)


async def finish_many(conn: AsyncConnection, *, items: Sequence[Finished], now: int) -> set[int]:
    """Record the end of executions; the ids recorded (the others' leases had been lost).

    A handful of statements however many executions end together: one guarded UPDATE per
    (worker, status, error), then the attempts, result sizes and results as executemany. No
    result row exists to replace: results are written only here, and a retry removes them.
    """
    groups: dict[tuple[str, ExecutionStatus, str | None], list[Finished]] = {}
    for item in items:
        assert item.status.finished, item.status
        groups.setdefault((item.worker, item.status, item.error), []).append(item)
    done: dict[int, Finished] = {}
    ended: dict[ExecutionStatus, list[int]] = {}
    for (worker, status, error), group in groups.items():
        updated = await conn.execute(
            executions.update()
            .where(
                tuple_(executions.c.id, executions.c.attempts).in_(
                    [(i.execution_id, i.attempt) for i in group]
                ),
                RUNNING,
                executions.c.lease_owner == worker,
            )
            .values(
                status=status.value,
                error=error,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=now,
                updated_at=now,
            )
            .returning(executions.c.id, executions.c.enforcement_id)
        )
        by_id = {i.execution_id: i for i in group}
        for row in updated:
            done[row.id] = by_id[row.id]
            if row.enforcement_id is not None:
                ended.setdefault(status, []).append(row.enforcement_id)
    if not done:
        return set()
    await conn.execute(
        _END_ATTEMPT,
        [
            {
                "b_id": i.execution_id,
                "b_number": i.attempt,
                "b_outcome": i.outcome,
                "b_error": i.error,
                "b_finished": now,
                "b_detail": i.detail,
            }
            for i in done.values()
        ],
    )
    with_results = [i for i in done.values() if i.result is not None]
    if with_results:
        await conn.execute(
            _SET_RESULT_SIZE,
            [{"b_id": i.execution_id, "b_size": len(i.result or b"")} for i in with_results],
        )
        await conn.execute(
            execution_results.insert(),
            [{"execution_id": i.execution_id, "content": i.result} for i in with_results],
        )
    for status, enforcement_ids in ended.items():
        await set_enforcements(conn, ids=enforcement_ids, status=status, now=now)
    return set(done)


async def requeue(
    conn: AsyncConnection,
    *,
    execution_id: int,
    worker: str,
    attempt: int,
    available_at: int,
    outcome: str,
    error: str | None,
    now: int,
    refund: bool = False,
    detail: JSONObject | None = None,
) -> ExecutionStatus | None:
    """Put a running execution back on the queue after `attempt` ended: the status it now has
    (queued, or cancelled), or None if the lease was lost.

    `refund` gives the attempt back to the budget (a worker that stopped and released it). An
    execution whose cancel was requested while the attempt ran ends cancelled instead: a retry
    must not outlive the user's cancel.
    """
    cancelled = executions.c.cancel_requested.is_(True)
    values: dict[str, Any] = {
        "status": case(
            (cancelled, ExecutionStatus.CANCELLED.value), else_=ExecutionStatus.QUEUED.value
        ),
        "finished_at": case((cancelled, now), else_=None),
        "error": error,
        "lease_owner": None,
        "lease_expires_at": None,
        "available_at": available_at,
        "updated_at": now,
    }
    if refund:
        values["max_attempts"] = executions.c.max_attempts + 1
    requeued = await conn.execute(
        executions.update()
        .where(*_held(execution_id, worker, attempt))
        .values(**values)
        .returning(executions.c.enforcement_id, executions.c.status)
    )
    row = requeued.first()
    if row is None:
        return None
    status = ExecutionStatus(row.status)
    await end_attempt(
        conn,
        execution_id=execution_id,
        number=attempt,
        outcome=outcome,
        error=error,
        now=now,
        detail=detail,
    )
    if row.enforcement_id is not None:
        await set_enforcements(conn, ids=[row.enforcement_id], status=status, now=now)
    return status


async def withdraw(
    conn: AsyncConnection,
    *,
    execution_id: int,
    worker: str,
    attempt: int,
    available_at: int,
    now: int,
) -> bool:
    """Put a running execution back on the queue as if its attempt had never begun (the action
    could not start yet): the attempt's number and record are taken back. False if the lease
    was lost. A cancel requested meanwhile ends it cancelled instead."""
    cancelled = executions.c.cancel_requested.is_(True)
    withdrawn = await conn.execute(
        executions.update()
        .where(*_held(execution_id, worker, attempt))
        .values(
            status=case(
                (cancelled, ExecutionStatus.CANCELLED.value), else_=ExecutionStatus.QUEUED.value
            ),
            finished_at=case((cancelled, now), else_=None),
            attempts=case((cancelled, executions.c.attempts), else_=executions.c.attempts - 1),
            lease_owner=None,
            lease_expires_at=None,
            available_at=available_at,
            updated_at=now,
        )
        .returning(executions.c.status)
    )
    row = withdrawn.first()
    if row is None:
        return False
    if row.status == ExecutionStatus.CANCELLED.value:
        await end_attempt(
            conn,
            execution_id=execution_id,
            number=attempt,
            outcome="cancelled",
            error="cancelled by request",
            now=now,
        )
        return True
    await conn.execute(
        delete(execution_attempts).where(
            execution_attempts.c.execution_id == execution_id,
            execution_attempts.c.number == attempt,
        )
    )
    return True


async def end_attempt(
    conn: AsyncConnection,
    *,
    execution_id: int,
    number: int,
    outcome: str,
    error: str | None,
    now: int,
    detail: JSONObject | None = None,
) -> None:
    """Close one attempt's record."""
    await conn.execute(
        execution_attempts.update()
        .where(
            execution_attempts.c.execution_id == execution_id,
            execution_attempts.c.number == number,
        )
        .values(finished_at=now, outcome=outcome, error=error, detail=detail)
    )


async def save_result(conn: AsyncConnection, *, execution_id: int, content: bytes | None) -> None:
    """Replace an execution's stored result (None removes it)."""
    await conn.execute(
        execution_results.delete().where(execution_results.c.execution_id == execution_id)
    )
    if content is not None:
        await conn.execute(
            execution_results.insert(), {"execution_id": execution_id, "content": content}
        )
