"""Deliveries as their subscribers' operators see them: a subscription's deliveries, one with
every attempt (when, how long, the status code, an excerpt of the response, the error), and
resending one on demand.

A delivery is an execution (its id is the execution's), so visibility is the executions':
a delivery of an event the reader may not see is not there for them. A resend is a new
delivery of the same event to the same subscription, due at once, with the subscription's
current schedule; it carries the same `webhook-id`, so a receiver that already has the message
can tell.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require
from tidings.domain.automation import ExecutionStatus
from tidings.domain.clock import Clock
from tidings.domain.errors import Conflict, NotFound
from tidings.services.database import Database
from tidings.services.executions import ExecutionAdmin, ExecutionDetail
from tidings.services.subscription_matcher import compile_subscription, delivery
from tidings.services.work_signal import WorkSignal
from tidings.storage import executions as execution_store
from tidings.storage import subscriptions as subscription_store

# What a resend may start from: a delivery that is over, whichever way it ended.
_OVER = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.CANCELLED,
    }
)


def _not_found(delivery_id: int) -> NotFound:
    return NotFound(f"Delivery with ID {delivery_id} not found")


class DeliveryHistory:
    """Reads deliveries through the executions' service and resends them."""

    def __init__(
        self, db: Database, *, clock: Clock, executions: ExecutionAdmin, signal: WorkSignal
    ) -> None:
        self._db = db
        self._clock = clock
        self._executions = executions
        self._signal = signal

    async def get(self, principal: Principal, delivery_id: int) -> ExecutionDetail:
        """One delivery with its attempts, or 404 (also for an execution that is no delivery)."""
        try:
            detail = await self._executions.get(principal=principal, execution_id=delivery_id)
        except NotFound:
            raise _not_found(delivery_id) from None
        if detail.execution.subscription_id is None:
            raise _not_found(delivery_id)
        return detail

    async def resend(self, principal: Principal, delivery_id: int) -> ExecutionDetail:
        """Deliver the event of a finished delivery again, now; the new delivery."""
        require(principal, Permission.SUBSCRIPTIONS_WRITE)
        past = (await self.get(principal, delivery_id)).execution
        if past.status not in _OVER:
            raise Conflict(
                f"Delivery with ID {delivery_id} is {past.status.value}; only a finished "
                "delivery can be resent"
            )
        subscription_id = past.subscription_id
        assert subscription_id is not None
        assert past.event_id is not None
        event_id = past.event_id
        now = self._clock.now_ns()

        async def work(conn: AsyncConnection) -> int | str:
            row = await subscription_store.find(
                conn, tenant_id=principal.tenant_id, subscription_id=subscription_id
            )
            if row is None:
                return f"its subscription {subscription_id} no longer exists"
            if not row.enabled:
                return f"its subscription {subscription_id} is disabled; enable it first"
            compiled = compile_subscription(row)
            if compiled is None:
                return f"its subscription {subscription_id} has a filter that no longer compiles"
            new = delivery(compiled, tenant_id=principal.tenant_id, event_id=event_id, now=now)
            [made] = await execution_store.insert_executions(conn, rows=[new], now=now)
            await execution_store.announce(conn)
            return made

        made = await self._db.write(work)
        if isinstance(made, str):
            raise Conflict(f"Delivery with ID {delivery_id} cannot be resent: {made}")
        self._signal.notify()
        return await self.get(principal, made)
