"""Executions: reading them with their attempts and results, cancelling and retrying them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require, visibility_of
from tidings.domain.automation import Execution, ExecutionStatus
from tidings.domain.clock import Clock
from tidings.domain.cursors import CursorCodec, query_scope
from tidings.domain.errors import Conflict, NotFound
from tidings.domain.json import JSONValue
from tidings.services.database import Database
from tidings.services.event_queries import Page
from tidings.services.id_pages import page_by_id
from tidings.services.work_signal import WorkSignal
from tidings.storage import execution_history as history_store
from tidings.storage import executions as execution_store
from tidings.storage.execution_history import ExecutionFilter, ExecutionState

# What a retry may start again from; a success is final and a live execution is not finished.
RETRYABLE = frozenset(
    {ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.CANCELLED}
)


@dataclass(frozen=True)
class ExecutionDetail:
    """An execution with its attempts, and its result as stored (JSON bytes) when it has one."""

    execution: Execution
    result: bytes | None


def _not_found(execution_id: int) -> NotFound:
    return NotFound(f"Execution with ID {execution_id} not found")


class ExecutionAdmin:
    """Reads and manages executions for API callers."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        cursors: CursorCodec | None = None,
        signal: WorkSignal | None = None,
        default_max_attempts: int = 3,
    ) -> None:
        self._db = db
        self._clock = clock
        # Without the instance's codec, cursors are good for this process only.
        self._cursors = cursors or CursorCodec(os.urandom(32))
        self._signal = signal
        self._default_max_attempts = default_max_attempts

    async def page(
        self,
        *,
        principal: Principal,
        flt: ExecutionFilter,
        page: int,
        per_page: int,
        cursor: str | None,
    ) -> Page[Execution]:
        """Newest first: by page number with an exact total, or after a cursor (no total)."""
        require(principal, Permission.AUTOMATION_READ)
        visibility = visibility_of(principal)
        tenant_id = principal.tenant_id

        async def fetch(
            conn: AsyncConnection, limit: int, offset: int, before_id: int | None
        ) -> list[Execution]:
            return await history_store.list_executions(
                conn,
                tenant_id=tenant_id,
                flt=flt,
                visibility=visibility,
                limit=limit,
                offset=offset,
                before_id=before_id,
            )

        async def count(conn: AsyncConnection) -> int:
            return await history_store.count_executions(
                conn, tenant_id=tenant_id, flt=flt, visibility=visibility
            )

        return await page_by_id(
            self._db,
            self._cursors,
            scope=query_scope(tenant_id, "executions", _fingerprint(flt)),
            page=page,
            per_page=per_page,
            cursor=cursor,
            fetch=fetch,
            count=count,
        )

    async def get(self, *, principal: Principal, execution_id: int) -> ExecutionDetail:
        """One execution with attempts and result, or NotFound (also for other tenants')."""
        require(principal, Permission.AUTOMATION_READ)
        async with self._db.read() as conn:
            execution = await history_store.get_execution(
                conn,
                tenant_id=principal.tenant_id,
                execution_id=execution_id,
                visibility=visibility_of(principal),
            )
            if execution is None:
                raise _not_found(execution_id)
            result = await history_store.get_result(conn, execution_id=execution_id)
        return ExecutionDetail(execution, result)

    async def cancel(self, *, principal: Principal, execution_id: int) -> ExecutionDetail:
        """Cancel a queued execution at once, or ask its worker to stop a running one.

        A finished execution cannot be cancelled (Conflict).
        """
        require(principal, Permission.EXECUTIONS_WRITE)
        now = self._clock.now_ns()
        actor = principal.name

        async def work(conn: AsyncConnection) -> ExecutionState | None:
            state = await self._locked(conn, principal, execution_id)
            if state is None or state.status.finished:
                return state
            if state.status is ExecutionStatus.QUEUED:
                await history_store.cancel_queued(
                    conn, state=state, error=f"cancelled by {actor}", now=now
                )
            else:
                await history_store.request_cancel(conn, execution_id=state.id, now=now)
            return state

        state = await self._db.write(work)
        if state is None:
            raise _not_found(execution_id)
        if state.status.finished:
            raise Conflict(
                f"Execution with ID {execution_id} has already finished ({state.status.value})"
            )
        return await self.get(principal=principal, execution_id=execution_id)

    async def retry(
        self,
        *,
        principal: Principal,
        execution_id: int,
        permission: Permission = Permission.EXECUTIONS_WRITE,
    ) -> ExecutionDetail:
        """Queue a failed, timed-out or cancelled execution again with a new attempt budget
        (a delivery's is `subscriptions:write`'s to ask for)."""
        require(principal, permission)
        now = self._clock.now_ns()

        async def work(conn: AsyncConnection) -> ExecutionState | None:
            state = await self._locked(conn, principal, execution_id)
            if state is None or state.status not in RETRYABLE or _never_prepared(state):
                return state
            budget = None
            if state.action_id is not None:
                budget = await history_store.action_max_attempts(conn, action_id=state.action_id)
            await history_store.requeue_finished(
                conn,
                state=state,
                max_attempts=state.attempts + (budget or self._default_max_attempts),
                now=now,
            )
            await execution_store.announce(conn)
            return state

        state = await self._db.write(work)
        if state is None:
            raise _not_found(execution_id)
        if state.status not in RETRYABLE:
            raise Conflict(
                f"Execution with ID {execution_id} is {state.status.value}; only failed, "
                "timed-out and cancelled executions can be retried"
            )
        if _never_prepared(state):
            raise Conflict(
                f"Execution with ID {execution_id} never ran: its parameters could not be "
                "prepared (see its error), so there is nothing to retry; fix the rule and let "
                "the next event run it"
            )
        if self._signal is not None:
            self._signal.notify()
        return await self.get(principal=principal, execution_id=execution_id)

    async def _locked(
        self, conn: AsyncConnection, principal: Principal, execution_id: int
    ) -> ExecutionState | None:
        return await history_store.lock_state(
            conn,
            tenant_id=principal.tenant_id,
            execution_id=execution_id,
            visibility=visibility_of(principal),
        )


def _fingerprint(flt: ExecutionFilter) -> dict[str, JSONValue]:
    return {
        "enforcement": flt.enforcement_id,
        "action_ref": flt.action_ref,
        "status": None if flt.status is None else flt.status.value,
        "start": flt.created_from,
        "end": flt.created_to,
        "subscription": flt.subscription_id,
        "kind": "delivery" if flt.deliveries_only else "action" if flt.actions_only else None,
        "failed": flt.failed_only,
    }


def _never_prepared(state: ExecutionState) -> bool:
    """Failed before any attempt: its parameters failed to render or to match the schema."""
    return state.status is ExecutionStatus.FAILED and state.attempts == 0
