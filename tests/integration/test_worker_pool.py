"""The worker pool in-process, on SQLite and PostgreSQL: run, wake, time out, cancel, retry,
store large results, stop gracefully, and give up what it no longer holds."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson
import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.clocks import SettableClock
from tests.execution_rows import ADMIN, TENANT, enqueue, new_execution
from tests.receivers import Receiver, running_receiver
from tidings.actions.builtin import RUNNERS
from tidings.actions.runner import ActionContext, ActionFailed, Runner
from tidings.domain.automation import ExecutionStatus
from tidings.domain.json import JSONValue
from tidings.domain.retry import RetryPolicy
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.executions import ExecutionAdmin, ExecutionDetail
from tidings.services.runtime import Services
from tidings.settings import Settings
from tidings.storage import executions as execution_store
from tidings.storage.automation_tables import execution_attempts
from tidings.workers.factory import build_worker_pool
from tidings.workers.pool import PoolConfig, WorkerPool

FAST = RetryPolicy(base_seconds=0.01, cap_seconds=0.05)
BIG = "x" * (4 * 1024 * 1024)


async def sleepy(ctx: ActionContext) -> JSONValue:
    """Runs until stopped (or for `seconds`)."""
    seconds = ctx.parameters.get("seconds", 60)
    assert isinstance(seconds, int | float)
    await asyncio.sleep(seconds)
    return "woke"


async def flaky(ctx: ActionContext) -> JSONValue:
    """Fails its first attempt (retryably), then succeeds."""
    if ctx.attempt == 1:
        raise ActionFailed("first try fails", retryable=True)
    return {"attempt": ctx.attempt}


async def big(ctx: ActionContext) -> JSONValue:
    """A 4 MB result."""
    return {"blob": BIG}


async def broken(ctx: ActionContext) -> JSONValue:
    """A runner with a bug."""
    raise KeyError("missing")


TEST_RUNNERS: dict[str, Runner] = {
    **RUNNERS,
    "sleepy": sleepy,
    "flaky": flaky,
    "big": big,
    "broken": broken,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback targets allowed, as in local development."""
    return settings.model_copy(update={"allow_private_targets": True})


def start_pool(
    services: Services, *, poll_seconds: float = 0.2, lease_seconds: float = 3.0
) -> WorkerPool:
    """A pool with short clocks and the test runners (started by the caller)."""
    queue = ExecutionQueue(services.db, clock=services.clock, box=services.box, policy=FAST)
    config = PoolConfig(
        concurrency=4, lease_seconds=lease_seconds, poll_seconds=poll_seconds, grace_seconds=5
    )
    return build_worker_pool(services, config=config, queue=queue, runners=TEST_RUNNERS)


@pytest.fixture
async def pool(services: Services) -> AsyncIterator[WorkerPool]:
    """A started pool, stopped after the test."""
    started = start_pool(services)
    await started.start()
    yield started
    await started.stop(grace_seconds=0)


async def settled(
    services: Services,
    execution_id: int,
    done: Callable[[ExecutionDetail], bool] = lambda d: d.execution.status.finished,
    timeout: float = 15.0,
) -> ExecutionDetail:
    """The execution once `done` holds (by default: once it has finished)."""
    admin = ExecutionAdmin(services.db, clock=services.clock)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        detail = await admin.get(principal=ADMIN, execution_id=execution_id)
        if done(detail):
            return detail
        assert asyncio.get_running_loop().time() < deadline, detail.execution
        await asyncio.sleep(0.02)


async def outcomes(services: Services, execution_id: int) -> list[str | None]:
    """The outcome of each attempt."""
    async with services.db.read() as conn:
        query = (
            select(execution_attempts.c.outcome)
            .where(execution_attempts.c.execution_id == execution_id)
            .order_by(execution_attempts.c.number)
        )
        return list((await conn.execute(query)).scalars())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP server answering 200."""
    with running_receiver() as started:
        yield started


async def test_runs_queued_executions_and_stores_results(
    services: Services, pool: WorkerPool, receiver: Receiver
) -> None:
    echo, noop, http = await enqueue(
        services,
        new_execution(runner="echo", parameters={"say": "hi"}),
        new_execution(runner="noop"),
        new_execution(runner="http_request", parameters={"url": receiver.url + "/x"}),
    )
    echoed = await settled(services, echo)
    assert echoed.execution.status is ExecutionStatus.SUCCEEDED
    assert echoed.result == b'{"say":"hi"}'
    nothing = await settled(services, noop)
    assert (nothing.execution.status, nothing.result) == (ExecutionStatus.SUCCEEDED, None)
    sent = await settled(services, http)
    assert sent.execution.status is ExecutionStatus.SUCCEEDED
    assert sent.result is not None
    assert orjson.loads(sent.result)["status"] == 200
    [request] = receiver.received()
    assert request.headers["idempotency-key"] == f"{TENANT}-{http}"
    assert [a.outcome for a in sent.execution.attempt_log] == ["succeeded"]
    assert sent.execution.attempt_log[0].worker == pool.name


async def test_an_enqueue_wakes_an_idle_pool_at_once(services: Services) -> None:
    idle = start_pool(services, poll_seconds=60)
    await idle.start()
    try:
        await asyncio.sleep(0.2)  # the pool has claimed nothing and sleeps
        [execution_id] = await enqueue(services, new_execution())
        detail = await settled(services, execution_id, timeout=5)
        assert detail.execution.status is ExecutionStatus.SUCCEEDED
    finally:
        await idle.stop()


async def test_notify_wakes_a_pool_in_another_process(
    services: Services, settings: Settings, engine_name: str
) -> None:
    if engine_name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite has one process")
    other = Services.build(settings)  # another node: its work signal is not ours
    await other.start()
    idle = start_pool(other, poll_seconds=60)
    await idle.start()
    try:
        await asyncio.sleep(0.3)
        [execution_id] = await services.db.write(
            lambda conn: _insert_and_announce(conn, services.clock.now_ns())
        )
        detail = await settled(services, execution_id, timeout=5)
        assert detail.execution.attempt_log[0].worker == idle.name
    finally:
        await idle.stop()
        await other.stop()


async def _insert_and_announce(conn: AsyncConnection, now: int) -> list[int]:
    ids = await execution_store.insert_executions(conn, rows=[new_execution()], now=now)
    await execution_store.announce(conn)
    return ids


async def test_an_execution_past_its_timeout_is_stopped(
    services: Services, pool: WorkerPool
) -> None:
    [execution_id] = await enqueue(
        services, new_execution(runner="sleepy", timeout_seconds=0.3, max_attempts=1)
    )
    detail = await settled(services, execution_id)
    assert (detail.execution.status, detail.execution.error) == (
        ExecutionStatus.TIMED_OUT,
        "timed out after 0.3 s",
    )
    assert await outcomes(services, execution_id) == ["timed_out"]


async def test_a_retryable_failure_is_tried_again(services: Services, pool: WorkerPool) -> None:
    [execution_id] = await enqueue(services, new_execution(runner="flaky"))
    detail = await settled(services, execution_id)
    assert detail.execution.status is ExecutionStatus.SUCCEEDED
    assert detail.result == b'{"attempt":2}'
    assert await outcomes(services, execution_id) == ["failed", "succeeded"]
    assert detail.execution.attempt_log[0].error == "first try fails"


@pytest.mark.parametrize(
    ("runner", "error"),
    [
        ("broken", "KeyError: 'missing'"),  # a bug in a runner is retried like any failure
        (
            "teleport",
            "unknown runner 'teleport' (known: big, broken, delivery, echo, emit_event, flaky, "
            "http_request, local_command, noop, python, slack, sleepy)",
        ),
    ],
)
async def test_failures_are_recorded_with_their_error(
    services: Services, pool: WorkerPool, runner: str, error: str
) -> None:
    [execution_id] = await enqueue(services, new_execution(runner=runner, max_attempts=1))
    detail = await settled(services, execution_id)
    assert (detail.execution.status, detail.execution.error) == (ExecutionStatus.FAILED, error)


async def test_a_4_mb_result_is_stored_whole(services: Services, pool: WorkerPool) -> None:
    [execution_id] = await enqueue(services, new_execution(runner="big"))
    detail = await settled(services, execution_id)
    assert detail.execution.status is ExecutionStatus.SUCCEEDED
    assert detail.result is not None
    assert orjson.loads(detail.result) == {"blob": BIG}
    assert detail.execution.result_size == len(BIG) + len('{"blob":""}')


async def test_cancel_stops_a_running_execution(services: Services, pool: WorkerPool) -> None:
    [execution_id] = await enqueue(services, new_execution(runner="sleepy"))
    await settled(services, execution_id, lambda d: d.execution.status is ExecutionStatus.RUNNING)
    admin = ExecutionAdmin(services.db, clock=services.clock)
    await admin.cancel(principal=ADMIN, execution_id=execution_id)
    detail = await settled(services, execution_id, timeout=5)  # seen at the next renewal (1 s)
    assert (detail.execution.status, detail.execution.error) == (
        ExecutionStatus.CANCELLED,
        "cancelled by request",
    )
    assert await outcomes(services, execution_id) == ["cancelled"]
    assert pool.running == 0


async def test_stopping_releases_what_is_still_running(services: Services) -> None:
    stopping = start_pool(services)
    await stopping.start()
    [execution_id] = await enqueue(services, new_execution(runner="sleepy", max_attempts=1))
    await settled(services, execution_id, lambda d: d.execution.status is ExecutionStatus.RUNNING)
    await stopping.stop(grace_seconds=0.1)
    admin = ExecutionAdmin(services.db, clock=services.clock)
    detail = await admin.get(principal=ADMIN, execution_id=execution_id)
    assert (detail.execution.status, detail.execution.attempts) == (ExecutionStatus.QUEUED, 1)
    assert detail.execution.max_attempts == 2  # the released attempt does not count
    assert await outcomes(services, execution_id) == ["released"]


async def test_stopping_lets_short_executions_finish(services: Services) -> None:
    stopping = start_pool(services)
    await stopping.start()
    [execution_id] = await enqueue(
        services, new_execution(runner="sleepy", parameters={"seconds": 0.3})
    )
    await settled(services, execution_id, lambda d: d.execution.status is ExecutionStatus.RUNNING)
    await stopping.stop(grace_seconds=5)
    detail = await settled(services, execution_id, timeout=0.5)
    assert (detail.execution.status, detail.result) == (ExecutionStatus.SUCCEEDED, b'"woke"')


async def test_a_worker_that_lost_its_lease_stops_and_records_nothing(
    services: Services, pool: WorkerPool
) -> None:
    [execution_id] = await enqueue(services, new_execution(runner="sleepy"))
    await settled(services, execution_id, lambda d: d.execution.status is ExecutionStatus.RUNNING)
    # Another worker's reaper, whose clock says the lease ran out long ago.
    future = SettableClock("2262-01-01T00:00:00Z")
    reaper = ExecutionQueue(
        services.db, clock=future, box=services.box, policy=FAST, rng=random.Random(1)
    )
    assert await reaper.reap_expired() == 1
    await _until(lambda: pool.running == 0, timeout=5)
    assert await outcomes(services, execution_id) == ["lease_expired"]
    admin = ExecutionAdmin(services.db, clock=future)
    detail = await admin.get(principal=ADMIN, execution_id=execution_id)
    assert detail.execution.status is ExecutionStatus.QUEUED
    assert detail.execution.available_at > future.ns - NS_PER_SECOND  # due in its future


class SlowFinishes(ExecutionQueue):
    """The real queue, whose successes commit and then wait at a gate before returning: an
    outcome committed while its slot is still held, as when a commit is slow to come back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committed = asyncio.Event()
        self.gate = asyncio.Event()

    async def succeed(self, *args: Any, **kwargs: Any) -> bool:
        stored = await super().succeed(*args, **kwargs)
        self.committed.set()
        await self.gate.wait()
        return stored


async def test_a_renewal_after_the_outcome_committed_is_no_lost_lease(services: Services) -> None:
    queue = SlowFinishes(services.db, clock=services.clock, box=services.box, policy=FAST)
    config = PoolConfig(concurrency=4, lease_seconds=3.0, poll_seconds=0.2, grace_seconds=5)
    pool = build_worker_pool(services, config=config, queue=queue, runners=TEST_RUNNERS)
    [execution_id] = await enqueue(services, new_execution())
    with structlog.testing.capture_logs() as logs:
        await pool.start()
        try:
            await asyncio.wait_for(queue.committed.wait(), 10)
            await asyncio.sleep(2.5)  # renewals come every second with a 3 s lease
            assert pool.running == 1
            queue.gate.set()
            await _until(lambda: pool.running == 0, timeout=5)
        finally:
            queue.gate.set()
            await pool.stop(grace_seconds=0)
    assert [e for e in logs if e["event"] == "workers.lease_lost"] == []
    assert await outcomes(services, execution_id) == ["succeeded"]


async def test_emit_event_through_the_pool(services: Services, pool: WorkerPool) -> None:
    params: JSONValue = {"type": "chain.next", "payload": {"n": 1}}
    [execution_id] = await enqueue(services, new_execution(runner="emit_event", parameters=params))
    detail = await settled(services, execution_id)
    assert detail.execution.status is ExecutionStatus.SUCCEEDED
    assert detail.result is not None
    event_id = orjson.loads(detail.result)["event_id"]
    event = await services.events.get(principal=ADMIN, event_id=event_id)
    assert (event.type, event.payload) == ("chain.next", {"n": 1})


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
