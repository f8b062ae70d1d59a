"""Direct hand-off, on SQLite and PostgreSQL: an execution enqueued by this process's ingest goes
straight to this process's pool when it has room (never queued, never claimed), waits on the
queue when it has none, and is recovered by the reaper when the pool it was leased to is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.api.helpers import post_event
from tests.execution_rows import ADMIN, new_execution
from tidings.actions.builtin import RUNNERS
from tidings.actions.runner import ActionContext, Runner
from tidings.domain.json import JSONValue
from tidings.services.execution_dispatch import Handoff
from tidings.services.executions import ExecutionAdmin, ExecutionDetail
from tidings.services.runtime import Services
from tidings.storage import catalogue as catalogue_store
from tidings.storage import executions as execution_store
from tidings.storage.automation_tables import enforcements, executions, rules
from tidings.workers.factory import build_worker_pool
from tidings.workers.pool import PoolConfig, WorkerPool

GATE: dict[str, asyncio.Event] = {}


async def gated(ctx: ActionContext) -> JSONValue:
    """Runs until the test opens the gate named by its parameter."""
    name = ctx.parameters.get("gate")
    assert isinstance(name, str)
    await GATE.setdefault(name, asyncio.Event()).wait()
    return name


TEST_RUNNERS: dict[str, Runner] = {**RUNNERS, "gated": gated}


def _pool(services: Services, *, concurrency: int = 4) -> WorkerPool:
    # A poll far beyond the test's timeouts: whatever runs was handed over or woken, not polled.
    config = PoolConfig(concurrency=concurrency, lease_seconds=2.0, poll_seconds=60)
    return build_worker_pool(services, config=config, runners=TEST_RUNNERS)


@pytest.fixture
async def catalogue(services: Services) -> dict[str, int]:
    """A pack `ho` with a trigger `ho.tick`, a `gated` action and a rule that always matches."""
    tenant = ADMIN.tenant_id
    async with services.db.transaction() as conn:
        pack = await catalogue_store.insert_pack(
            conn, tenant_id=tenant, values={"ref": "ho", "label": "Hand-off", "config": {}}, now=1
        )
        trigger = await catalogue_store.insert_trigger(
            conn,
            tenant_id=tenant,
            values={"pack_id": pack.id, "ref": "ho.tick", "label": "T"},
            now=1,
        )
        action = await catalogue_store.insert_action(
            conn,
            tenant_id=tenant,
            values={"pack_id": pack.id, "ref": "ho.wait", "label": "Wait", "runner": "gated"},
            now=1,
        )
        await conn.execute(
            rules.insert(),
            {
                "tenant_id": tenant,
                "pack_id": pack.id,
                "ref": "ho.always",
                "label": "always",
                "description": "always",
                "action_id": action,
                "trigger_id": trigger,
                "conditions": {},
                "action_params": {"gate": "{{ event.gate }}"},
                "enabled": True,
                "strict_params": False,
                "created_at": 1,
                "updated_at": 1,
            },
        )
        await catalogue_store.bump_version(conn, tenant_id=tenant)
    return {"trigger": trigger}


@pytest.fixture(autouse=True)
def _gates() -> Iterator[None]:
    """Every gate closed at the start, and opened at the end (so no action outlives its test)."""
    GATE.clear()
    yield
    for gate in GATE.values():
        gate.set()


async def _ready(pool: WorkerPool, slots: int = 4) -> None:
    """Once the pool has looked at the queue, found nothing waiting and takes hand-offs into
    every slot (while the queue may hold work, the claimer's share of them stays free)."""
    deadline = asyncio.get_running_loop().time() + 10
    while (got := pool.reserve(slots)) < slots:
        pool.unreserve(got)
        assert asyncio.get_running_loop().time() < deadline, "the pool never took hand-offs"
        await asyncio.sleep(0.01)
    pool.unreserve(slots)


async def _committed_handoff(services: Services, pool: WorkerPool) -> Handoff:
    """A hand-off of one noop execution, committed but not yet delivered to `pool`."""
    handoff = Handoff(pool)
    assert handoff.reserve(1) == 1

    async def work(conn: AsyncConnection) -> None:
        handoff.add(
            await execution_store.insert_leased(
                conn,
                rows=[new_execution()],
                worker=handoff.worker,
                now=services.clock.now_ns(),
                lease_ns=handoff.lease_ns,
            )
        )

    await services.db.write(work)
    return handoff


async def _rows(services: Services) -> list[Any]:
    async with services.db.read() as conn:
        return list(await conn.execute(select(executions).order_by(executions.c.id)))


async def _detail(services: Services, execution_id: int) -> ExecutionDetail:
    return await ExecutionAdmin(services.db, clock=services.clock).get(
        principal=ADMIN, execution_id=execution_id
    )


async def _until(services: Services, execution_id: int, status: str) -> ExecutionDetail:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        detail = await _detail(services, execution_id)
        if detail.execution.status.value == status:
            return detail
        assert asyncio.get_running_loop().time() < deadline, detail.execution
        await asyncio.sleep(0.02)


async def _enforcement_status(services: Services, enforcement_id: int) -> str:
    async with services.db.read() as conn:
        query = select(enforcements.c.status).where(enforcements.c.id == enforcement_id)
        return str((await conn.execute(query)).scalar_one())


async def test_an_execution_goes_to_the_pool_in_the_events_transaction(
    services: Services,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalogue: dict[str, int],
) -> None:
    pool = _pool(services)
    await pool.start()
    try:
        await _ready(pool)
        await post_event(client, admin, trigger_ref="ho.tick", payload={"gate": "a"})
        [row] = await _rows(services)
        # Committed with the event already running under this pool's lease, its first attempt
        # begun at the same instant: it never sat on the queue.
        assert (row.status, row.attempts, row.lease_owner) == ("running", 1, pool.name)
        assert row.started_at == row.created_at
        assert row.lease_expires_at > row.created_at
        assert await _enforcement_status(services, row.enforcement_id) == "running"
        assert pool.running == 1
        GATE["a"].set()
        detail = await _until(services, row.id, "succeeded")
        assert [(a.number, a.worker, a.outcome) for a in detail.execution.attempt_log] == [
            (1, pool.name, "succeeded")
        ]
        assert await _enforcement_status(services, row.enforcement_id) == "completed"
    finally:
        await pool.stop(grace_seconds=0)


async def test_a_full_pool_leaves_the_execution_on_the_queue(
    services: Services,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalogue: dict[str, int],
) -> None:
    pool = _pool(services, concurrency=1)
    await pool.start()
    try:
        await _ready(pool, 1)
        await post_event(client, admin, trigger_ref="ho.tick", payload={"gate": "first"})
        await post_event(client, admin, trigger_ref="ho.tick", payload={"gate": "second"})
        first, second = await _rows(services)
        assert (first.status, first.lease_owner) == ("running", pool.name)
        assert (second.status, second.attempts, second.lease_owner) == ("queued", 0, None)
        GATE.setdefault("second", asyncio.Event()).set()
        GATE["first"].set()  # the slot frees, and the claimer takes the queued one
        await _until(services, first.id, "succeeded")
        detail = await _until(services, second.id, "succeeded")
        assert detail.execution.started_at is not None
        assert detail.execution.started_at > second.created_at  # claimed later, not handed over
    finally:
        await pool.stop(grace_seconds=0)


async def test_without_a_running_pool_executions_are_queued(
    services: Services,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalogue: dict[str, int],
) -> None:
    _pool(services)  # attached to ingest, never started
    await post_event(client, admin, trigger_ref="ho.tick", payload={"gate": "a"})
    [row] = await _rows(services)
    assert (row.status, row.attempts, row.lease_owner) == ("queued", 0, None)


async def test_reservations_never_exceed_the_pool_and_come_back_when_unused(
    services: Services,
) -> None:
    pool = _pool(services, concurrency=3)
    assert pool.reserve(2) == 0  # not started
    await pool.start()
    try:
        await _ready(pool, 3)
        pool.wake()  # the queue may hold work now: the claimer's share (2 of 3) stays free
        assert pool.reserve(3) == 1
        pool.unreserve(1)
        await _ready(pool, 3)  # the claimer looked, and found nothing waiting
        first, second = Handoff(pool), Handoff(pool)
        assert first.reserve(2) == 2
        assert second.reserve(5) == 1  # only one slot left
        assert pool.reserve(1) == 0
        second.abandon()  # its transaction rolled back
        assert pool.reserve(1) == 1
        pool.unreserve(1)
        first.abandon()  # the work runs again: the first run's slots are not held twice
        assert first.reserve(3) == 3
        first.deliver()  # committed with nothing leased: every slot comes back
        assert pool.reserve(3) == 3
        pool.unreserve(3)
    finally:
        await pool.stop(grace_seconds=0)


async def test_an_execution_leased_to_a_pool_that_died_is_reaped_and_run(
    services: Services,
) -> None:
    # What a process that committed a hand-off and was killed before running it leaves behind.
    async def work(conn: AsyncConnection) -> int:
        [claimed] = await execution_store.insert_leased(
            conn, rows=[new_execution()], worker="gone:1:dead", now=now, lease_ns=10**8
        )
        return claimed.id

    now = services.clock.now_ns()
    execution_id = await services.db.write(work)
    pool = _pool(services)
    await pool.start()
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            detail = await _detail(services, execution_id)
            if detail.execution.status.value == "succeeded":
                break
            assert asyncio.get_running_loop().time() < deadline, detail.execution
            await asyncio.sleep(0.05)
            pool.wake()
        log = [(a.number, a.worker, a.outcome) for a in detail.execution.attempt_log]
        assert log == [(1, "gone:1:dead", "lease_expired"), (2, pool.name, "succeeded")]
    finally:
        await pool.stop(grace_seconds=0)


async def test_stop_waits_for_executions_being_handed_over(services: Services) -> None:
    pool = _pool(services)
    await pool.start()
    await _ready(pool)
    handoff = await _committed_handoff(services, pool)
    stopping = asyncio.create_task(pool.stop(grace_seconds=5))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # a committed hand-off is still on its way
    handoff.deliver()
    await asyncio.wait_for(stopping, 10)
    [row] = await _rows(services)
    assert row.status == "succeeded"


async def test_rows_leased_by_a_hand_off_match_a_claim(services: Services) -> None:
    """The columns a hand-off writes are the ones a claim would (a regression guard: the bulk
    insert once put values in the wrong columns when they were not in the table's order)."""
    now = services.clock.now_ns()

    async def work(conn: AsyncConnection) -> list[int]:
        rows = [new_execution(runner="echo", parameters={"n": n}) for n in range(3)]
        claimed = await execution_store.insert_leased(
            conn, rows=rows, worker="w", now=now, lease_ns=5
        )
        return [c.id for c in claimed]

    ids = await services.db.write(work)
    rows = await _rows(services)
    assert [r.id for r in rows] == ids
    assert [r.parameters for r in rows] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {
        (r.status, r.attempts, r.lease_owner, r.lease_expires_at, r.started_at) for r in rows
    } == {("running", 1, "w", now + 5, now)}


async def test_a_hand_off_arriving_after_stop_is_left_to_the_reaper(services: Services) -> None:
    pool = _pool(services)
    await pool.start()
    await _ready(pool)
    handoff = await _committed_handoff(services, pool)
    await pool.stop(grace_seconds=0.1)  # gives up waiting for the hand-off
    handoff.deliver()
    assert pool.running == 0  # a stopped pool starts nothing
    [row] = await _rows(services)
    assert (row.status, row.lease_owner) == ("running", pool.name)  # the lease will expire
