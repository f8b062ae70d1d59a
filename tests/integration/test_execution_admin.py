"""Executions as the API's service sees them, on SQLite and PostgreSQL: cancel, retry, and a
4 MB result read back whole."""

from __future__ import annotations

import random

import pytest

from tests.clocks import SettableClock
from tests.execution_rows import ADMIN, add_enforcement, enforcement_status, enqueue, new_execution
from tidings.domain.automation import ExecutionStatus
from tidings.domain.errors import Conflict, NotFound
from tidings.domain.retry import RetryPolicy
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.executions import ExecutionAdmin
from tidings.services.runtime import Services
from tidings.storage.execution_history import ExecutionFilter

LEASE = 30.0


@pytest.fixture
def clock() -> SettableClock:
    """Time stands still unless a test moves it."""
    return SettableClock("2026-03-01T12:00:00Z")


@pytest.fixture
def queue(services: Services, clock: SettableClock) -> ExecutionQueue:
    """The workers' side of the queue."""
    return ExecutionQueue(
        services.db, clock=clock, box=services.box, policy=RetryPolicy(), rng=random.Random(7)
    )


@pytest.fixture
def admin_service(services: Services, clock: SettableClock) -> ExecutionAdmin:
    """The API's execution service on the test clock."""
    return ExecutionAdmin(services.db, clock=clock)


def later(clock: SettableClock, seconds: float) -> int:
    """Move the clock forward; the new instant."""
    clock.ns += int(seconds * NS_PER_SECOND)
    return clock.ns


async def test_cancel_ends_queued_asks_running_and_refuses_finished(
    services: Services, queue: ExecutionQueue, admin_service: ExecutionAdmin
) -> None:
    enforcement = await add_enforcement(services)
    running, queued = await enqueue(
        services, new_execution(), new_execution(enforcement_id=enforcement)
    )
    [claimed] = await queue.claim(worker="w", limit=1, lease_seconds=LEASE)
    assert claimed.id == running
    cancelled = await admin_service.cancel(principal=ADMIN, execution_id=queued)
    assert cancelled.execution.status is ExecutionStatus.CANCELLED
    assert cancelled.execution.error == "cancelled by admin"
    assert await enforcement_status(services, enforcement) == "cancelled"
    asked = await admin_service.cancel(principal=ADMIN, execution_id=running)
    assert asked.execution.status is ExecutionStatus.RUNNING
    check = await queue.renew(worker="w", ids=[running], lease_seconds=LEASE)
    assert check.cancel_requested == frozenset({running})
    assert await queue.cancelled(claimed, worker="w") is True
    with pytest.raises(Conflict) as caught:
        await admin_service.cancel(principal=ADMIN, execution_id=running)
    assert caught.value.message == f"Execution with ID {running} has already finished (cancelled)"
    with pytest.raises(NotFound):
        await admin_service.cancel(principal=ADMIN, execution_id=running + 100)


async def test_retry_requeues_finished_failures_with_a_new_budget(
    services: Services,
    queue: ExecutionQueue,
    admin_service: ExecutionAdmin,
    clock: SettableClock,
) -> None:
    enforcement = await add_enforcement(services)
    failed, succeeded = await enqueue(
        services, new_execution(max_attempts=1, enforcement_id=enforcement), new_execution()
    )
    first, second = await queue.claim(worker="w", limit=2, lease_seconds=LEASE)
    await queue.fail(first, worker="w", error="no", retryable=True)
    await queue.succeed(second, worker="w", result=None)
    assert await enforcement_status(services, enforcement) == "failed"
    now = later(clock, 60)
    retried = await admin_service.retry(principal=ADMIN, execution_id=failed)
    item = retried.execution
    assert (item.status, item.attempts, item.max_attempts, item.available_at, item.error) == (
        ExecutionStatus.QUEUED,
        1,
        4,  # one attempt spent, then the default budget of three more
        now,
        None,
    )
    assert item.finished_at is None
    assert await enforcement_status(services, enforcement) == "scheduled"
    [again] = await queue.claim(worker="w", limit=1, lease_seconds=LEASE)
    assert (again.id, again.attempt) == (failed, 2)
    with pytest.raises(Conflict):
        await admin_service.retry(principal=ADMIN, execution_id=failed)  # running now
    with pytest.raises(Conflict):
        await admin_service.retry(principal=ADMIN, execution_id=succeeded)


async def test_a_4_mb_result_round_trips(
    services: Services, queue: ExecutionQueue, admin_service: ExecutionAdmin
) -> None:
    [execution_id] = await enqueue(services, new_execution())
    [claimed] = await queue.claim(worker="w", limit=1, lease_seconds=LEASE)
    result = b'{"blob":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    assert await queue.succeed(claimed, worker="w", result=result) is True
    detail = await admin_service.get(principal=ADMIN, execution_id=execution_id)
    assert detail.result == result
    assert detail.execution.result_size == len(result)
    page = await admin_service.page(
        principal=ADMIN, flt=ExecutionFilter(), page=1, per_page=10, cursor=None
    )
    assert [e.id for e in page.items] == [execution_id]
