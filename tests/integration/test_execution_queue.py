"""The execution queue on SQLite and PostgreSQL: claim order, SKIP LOCKED, leases, expiry, retries
with backoff, and results kept apart from the queue (cancel, retry and reads are in
test_execution_admin.py)."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.clocks import SettableClock
from tests.execution_rows import (
    ADMIN,
    add_enforcement,
    enforcement_status,
    enqueue,
    new_execution,
)
from tidings.domain.automation import ExecutionStatus
from tidings.domain.retry import RetryPolicy
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.executions import ExecutionAdmin
from tidings.services.runtime import Services
from tidings.storage import executions as execution_store
from tidings.storage.automation_tables import execution_attempts, executions

T0 = "2026-03-01T12:00:00Z"
LEASE = 30.0
POLICY = RetryPolicy(max_attempts=3, base_seconds=2.0, factor=2.0, cap_seconds=60.0)
SEED = 7


@pytest.fixture
def clock() -> SettableClock:
    """Time stands still unless a test moves it."""
    return SettableClock(T0)


@pytest.fixture
def queue(services: Services, clock: SettableClock) -> ExecutionQueue:
    """The queue with the test's policy and a seeded jitter."""
    return ExecutionQueue(
        services.db, clock=clock, box=services.box, policy=POLICY, rng=random.Random(SEED)
    )


@pytest.fixture
def admin_service(services: Services, clock: SettableClock) -> ExecutionAdmin:
    """The API's execution service on the test clock."""
    return ExecutionAdmin(services.db, clock=clock)


def later(clock: SettableClock, seconds: float) -> int:
    """Move the clock forward; the new instant."""
    clock.ns += int(seconds * NS_PER_SECOND)
    return clock.ns


async def row(services: Services, execution_id: int) -> dict[str, object]:
    """The stored execution row, as a dict."""
    async with services.db.read() as conn:
        query = select(executions).where(executions.c.id == execution_id)
        return dict((await conn.execute(query)).one()._mapping)


async def attempt_rows(services: Services, execution_id: int) -> list[tuple[object, ...]]:
    """(number, worker, outcome, error) of each attempt, in order."""
    async with services.db.read() as conn:
        query = (
            select(
                execution_attempts.c.number,
                execution_attempts.c.worker,
                execution_attempts.c.outcome,
                execution_attempts.c.error,
            )
            .where(execution_attempts.c.execution_id == execution_id)
            .order_by(execution_attempts.c.number)
        )
        return [tuple(r) for r in await conn.execute(query)]


async def test_claims_due_executions_oldest_due_first(
    services: Services, queue: ExecutionQueue, clock: SettableClock
) -> None:
    t0 = clock.ns
    s = NS_PER_SECOND
    late, first, second, future = await enqueue(
        services,
        new_execution(available_at=t0 + 2 * s),
        new_execution(available_at=t0),
        new_execution(available_at=t0 + 1 * s),
        new_execution(available_at=t0 + 100 * s),
    )
    later(clock, 5)
    claimed = await queue.claim(worker="w1", limit=10, lease_seconds=LEASE)
    assert [c.id for c in claimed] == [first, second, late]
    assert [c.attempt for c in claimed] == [1, 1, 1]
    stored = await row(services, first)
    assert (stored["status"], stored["lease_owner"], stored["attempts"]) == ("running", "w1", 1)
    assert stored["lease_expires_at"] == clock.ns + int(LEASE * s)
    assert stored["started_at"] == clock.ns
    assert await attempt_rows(services, first) == [(1, "w1", None, None)]
    assert (await row(services, future))["status"] == "queued"
    assert await queue.claim(worker="w2", limit=10, lease_seconds=LEASE) == []


async def test_a_claim_takes_at_most_its_limit(services: Services, queue: ExecutionQueue) -> None:
    ids = await enqueue(services, *(new_execution() for _ in range(5)))
    first = await queue.claim(worker="w1", limit=2, lease_seconds=LEASE)
    second = await queue.claim(worker="w2", limit=2, lease_seconds=LEASE)
    third = await queue.claim(worker="w3", limit=2, lease_seconds=LEASE)
    assert [c.id for c in first + second + third] == ids


async def test_concurrent_claimers_never_share_a_row_on_postgresql(
    services: Services, engine_name: str
) -> None:
    if engine_name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer")
    ids = await enqueue(services, *(new_execution() for _ in range(10)))
    engine = services.db.engines.writer
    now = services.clock.now_ns()
    # Two open transactions: the second claims past the rows the first holds, without waiting.
    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        await second.begin()
        held = await execution_store.claim(first, worker="a", limit=4, now=now, lease_ns=1)
        other = await asyncio.wait_for(
            execution_store.claim(second, worker="b", limit=10, now=now, lease_ns=1), timeout=5
        )
        assert [c.id for c in held] == ids[:4]
        assert [c.id for c in other] == ids[4:]
        await first.commit()
        await second.commit()


async def test_many_concurrent_claims_take_every_row_once(
    services: Services, engine_name: str
) -> None:
    ids = await enqueue(services, *(new_execution() for _ in range(120)))
    now = services.clock.now_ns()

    async def claim_in_own_transaction(worker: str) -> list[int]:
        taken: list[int] = []
        while True:
            if engine_name == "postgresql":
                async with services.db.engines.writer.begin() as conn:
                    got = await execution_store.claim(
                        conn, worker=worker, limit=3, now=now, lease_ns=1
                    )
            else:
                got = await services.db.write(
                    lambda conn: execution_store.claim(
                        conn, worker=worker, limit=3, now=now, lease_ns=1
                    )
                )
            if not got:
                return taken
            taken.extend(c.id for c in got)

    results = await asyncio.gather(*(claim_in_own_transaction(f"w{i}") for i in range(8)))
    claimed = [i for taken in results for i in taken]
    assert sorted(claimed) == ids
    assert len(claimed) == len(set(claimed))


async def test_renewal_extends_only_the_leases_a_worker_holds(
    services: Services, queue: ExecutionQueue, clock: SettableClock
) -> None:
    mine, cancelled = await enqueue(services, new_execution(), new_execution())
    await queue.claim(worker="w1", limit=2, lease_seconds=LEASE)
    await admin_cancel(services, clock, cancelled)
    now = later(clock, 20)
    check = await queue.renew(worker="w1", ids=[mine, cancelled], lease_seconds=LEASE)
    assert check.held == frozenset({mine, cancelled})
    assert check.cancel_requested == frozenset({cancelled})
    assert (await row(services, mine))["lease_expires_at"] == now + int(LEASE * NS_PER_SECOND)
    stranger = await queue.renew(worker="w2", ids=[mine], lease_seconds=LEASE)
    assert stranger.held == frozenset()
    later(clock, LEASE - 1)  # within the renewed lease
    assert await queue.reap_expired() == 0
    later(clock, 2)
    assert await queue.reap_expired() == 2


async def admin_cancel(services: Services, clock: SettableClock, execution_id: int) -> None:
    """Cancel through the API's service."""
    await ExecutionAdmin(services.db, clock=clock).cancel(
        principal=ADMIN, execution_id=execution_id
    )


async def test_an_unrenewed_lease_is_not_reaped_before_it_expires(
    services: Services, queue: ExecutionQueue, clock: SettableClock
) -> None:
    await enqueue(services, new_execution())
    await queue.claim(worker="w1", limit=1, lease_seconds=LEASE)
    later(clock, LEASE)  # exactly at expiry: still held
    assert await queue.reap_expired() == 0
    later(clock, 0.001)
    assert await queue.reap_expired() == 1


async def test_an_expired_lease_requeues_due_at_once_and_fences_the_old_worker(
    services: Services, queue: ExecutionQueue, clock: SettableClock
) -> None:
    enforcement = await add_enforcement(services)
    [execution_id] = await enqueue(services, new_execution(enforcement_id=enforcement))
    [claimed] = await queue.claim(worker="w1", limit=1, lease_seconds=LEASE)
    assert await enforcement_status(services, enforcement) == "running"
    now = later(clock, 31)
    assert await queue.reap_expired() == 1
    stored = await row(services, execution_id)
    assert (stored["status"], stored["error"], stored["lease_owner"]) == (
        "queued",
        "lease expired",
        None,
    )
    assert stored["available_at"] == now  # the lease was the wait; the attempt counts
    assert await attempt_rows(services, execution_id) == [
        (1, "w1", "lease_expired", "lease expired")
    ]
    assert await enforcement_status(services, enforcement) == "scheduled"
    # The first worker comes back to life: it can record nothing over the requeue.
    assert await queue.succeed(claimed, worker="w1", result=b"{}") is False
    [again] = await queue.claim(worker="w2", limit=1, lease_seconds=LEASE)
    assert (again.id, again.attempt) == (execution_id, 2)
    assert await queue.succeed(claimed, worker="w1", result=b"{}") is False
    assert await queue.succeed(again, worker="w2", result=b'{"ok":true}') is True
    assert (await row(services, execution_id))["status"] == "succeeded"
    assert await enforcement_status(services, enforcement) == "completed"


async def test_an_expired_lease_on_the_last_attempt_fails_the_execution(
    services: Services, queue: ExecutionQueue, clock: SettableClock
) -> None:
    enforcement = await add_enforcement(services)
    [execution_id] = await enqueue(
        services, new_execution(max_attempts=1, enforcement_id=enforcement)
    )
    await queue.claim(worker="w1", limit=1, lease_seconds=LEASE)
    now = later(clock, 31)
    assert await queue.reap_expired() == 1
    stored = await row(services, execution_id)
    assert (stored["status"], stored["error"], stored["finished_at"]) == (
        "failed",
        "lease expired",
        now,
    )
    assert await enforcement_status(services, enforcement) == "failed"


async def test_retryable_failures_back_off_then_give_up(
    services: Services, queue: ExecutionQueue, clock: SettableClock
) -> None:
    [execution_id] = await enqueue(services, new_execution(max_attempts=3))
    expected = random.Random(SEED)
    for attempt in (1, 2):
        [claimed] = await queue.claim(worker="w", limit=1, lease_seconds=LEASE)
        assert claimed.attempt == attempt
        status = await queue.fail(claimed, worker="w", error=f"boom {attempt}", retryable=True)
        assert status is ExecutionStatus.QUEUED
        delay = POLICY.next_delay(attempt, retryable=True, rng=expected)
        assert delay is not None
        due = clock.ns + int(delay * NS_PER_SECOND)
        assert (await row(services, execution_id))["available_at"] == due
        clock.ns = due - 1  # not due yet
        assert await queue.claim(worker="w", limit=1, lease_seconds=LEASE) == []
        clock.ns = due
    [last] = await queue.claim(worker="w", limit=1, lease_seconds=LEASE)
    status = await queue.fail(last, worker="w", error="boom 3", retryable=True)
    assert status is ExecutionStatus.FAILED
    stored = await row(services, execution_id)
    assert (stored["status"], stored["attempts"], stored["error"]) == ("failed", 3, "boom 3")
    assert [a[2:] for a in await attempt_rows(services, execution_id)] == [
        ("failed", "boom 1"),
        ("failed", "boom 2"),
        ("failed", "boom 3"),
    ]


@pytest.mark.parametrize(
    ("retryable", "timed_out", "attempts_left", "expected"),
    [
        (False, False, 2, ExecutionStatus.FAILED),  # a 4xx: trying again cannot help
        (True, True, 0, ExecutionStatus.TIMED_OUT),  # the last attempt ran out of time
        (True, True, 2, ExecutionStatus.QUEUED),
    ],
)
async def test_how_a_failed_attempt_ends(
    services: Services,
    queue: ExecutionQueue,
    retryable: bool,
    timed_out: bool,
    attempts_left: int,
    expected: ExecutionStatus,
) -> None:
    [execution_id] = await enqueue(services, new_execution(max_attempts=1 + attempts_left))
    [claimed] = await queue.claim(worker="w", limit=1, lease_seconds=LEASE)
    status = await queue.fail(
        claimed, worker="w", error="e", retryable=retryable, timed_out=timed_out
    )
    assert status is expected
    assert (await row(services, execution_id))["status"] == expected.value


async def test_a_released_execution_is_due_at_once_with_its_attempt_refunded(
    services: Services, queue: ExecutionQueue
) -> None:
    [execution_id] = await enqueue(services, new_execution(max_attempts=1))
    [claimed] = await queue.claim(worker="w1", limit=1, lease_seconds=LEASE)
    assert await queue.release(claimed, worker="w1") is True
    [again] = await queue.claim(worker="w2", limit=1, lease_seconds=LEASE)
    assert (again.attempt, again.max_attempts) == (2, 2)
    assert [a[2] for a in await attempt_rows(services, execution_id)] == ["released", None]


async def test_results_stay_out_of_the_queue(
    services: Services, queue: ExecutionQueue, engine_name: str
) -> None:
    """The claim is an index seek on queued rows, and a result never widens an execution row."""
    ids = await enqueue(services, *(new_execution() for _ in range(6)))
    claimed = await queue.claim(worker="w", limit=4, lease_seconds=LEASE)
    for c in claimed:
        await queue.succeed(c, worker="w", result=b'"' + b"r" * (4 * 1024 * 1024) + b'"')
    async with services.db.engines.writer.connect() as conn:
        plan = await _claim_plan(conn, engine_name)
        assert "ix_executions_queue" in plan
        assert "execution_results" not in plan
        if engine_name == "postgresql":
            size = await conn.scalar(text("SELECT pg_total_relation_size('executions')"))
            assert size is not None
            assert size < 1024 * 1024  # 16 MB of results live elsewhere
    remaining = await queue.claim(worker="w", limit=10, lease_seconds=LEASE)
    assert [c.id for c in remaining] == ids[4:]


async def _claim_plan(conn: AsyncConnection, engine_name: str) -> str:
    """How the engine runs the claim's SELECT."""
    query = (
        select(executions.c.id)
        .where(execution_store.QUEUED, executions.c.available_at <= 2**62)
        .order_by(executions.c.available_at, executions.c.id)
        .limit(10)
    )
    compiled = query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
    if engine_name == "postgresql":
        await conn.execute(text("SET enable_seqscan = off"))  # a tiny table would be scanned
        rows = await conn.execute(text(f"EXPLAIN {compiled}"))
    else:
        rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
    return "\n".join(str(r[-1]) for r in rows)


async def test_a_cancel_requested_while_an_attempt_runs_is_not_outlived_by_its_retry(
    services: Services, queue: ExecutionQueue, admin_service: ExecutionAdmin
) -> None:
    [execution_id] = await enqueue(services, new_execution(runner="echo"))
    [claimed] = await queue.claim(worker="w1", limit=1, lease_seconds=LEASE)
    await admin_service.cancel(principal=ADMIN, execution_id=execution_id)
    # The policy would retry this failure, but the cancel wins.
    ended = await queue.fail(claimed, worker="w1", error="boom", retryable=True)
    assert ended is ExecutionStatus.CANCELLED
    stored = await row(services, execution_id)
    assert stored["status"] == "cancelled"
    assert stored["finished_at"] is not None
    assert await queue.claim(worker="w2", limit=1, lease_seconds=LEASE) == []


async def test_statistics_are_refreshed_once_the_queue_has_grown(
    services: Services, queue: ExecutionQueue, engine_name: str
) -> None:
    assert not await queue.refresh_statistics(after_changes=1_000)  # nothing changed yet
    await enqueue(services, *(new_execution() for _ in range(1_500)))
    if engine_name == "sqlite":  # SQLite's planner needs no statistics for the queue
        assert not await queue.refresh_statistics(after_changes=1_000)
        return
    # PostgreSQL's counters reach pg_stat_user_tables within a second or so of the commit.
    deadline = asyncio.get_running_loop().time() + 15
    while not await queue.refresh_statistics(after_changes=1_000):
        assert asyncio.get_running_loop().time() < deadline, "never analyzed"
        await asyncio.sleep(0.1)
    async with services.db.read() as conn:
        analyzed = await conn.execute(
            text(
                "SELECT n_mod_since_analyze, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = 'executions'"
            )
        )
        changed, has_run = analyzed.one()
    assert has_run
    assert changed == 0  # nothing changed since
    assert not await queue.refresh_statistics(after_changes=1_000)  # fresh: not again
