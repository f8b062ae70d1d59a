"""Group commit: concurrent writes share commits, and one failure never fails its neighbours."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.events import NewEvent
from tidings.services.runtime import Services
from tidings.storage import events as event_store
from tidings.storage.tables import events


def _insert(tenant_id: int, marker: int) -> Callable[[AsyncConnection], Awaitable[int]]:
    async def work(conn: AsyncConnection) -> int:
        ids = await event_store.insert_events(
            conn,
            tenant_id=tenant_id,
            new_events=[NewEvent(type="t", payload={"m": marker})],
            actor_id=None,
            request_id=None,
            now=1,
        )
        return ids[0]

    return work


async def _count(services: Services) -> int:
    async with services.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


async def test_concurrent_writes_share_commits(services: Services) -> None:
    before_batches = services.db.committer.batches
    ids = await asyncio.gather(*(services.db.write(_insert(1, i)) for i in range(200)))
    assert len(set(ids)) == 200
    assert await _count(services) == 200
    batches = services.db.committer.batches - before_batches
    # gather() starts all 200 submitters before the waiting writer resumes (asyncio runs ready
    # callbacks in FIFO order), so all of them share a single commit.
    assert batches == 1


async def test_a_failing_job_fails_alone(services: Services) -> None:
    async def broken(conn: AsyncConnection) -> int:
        await conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
        return 0

    results = await asyncio.gather(
        services.db.write(_insert(1, 1)),
        services.db.write(broken),
        services.db.write(_insert(1, 2)),
        return_exceptions=True,
    )
    assert isinstance(results[0], int)
    assert isinstance(results[1], Exception)
    assert isinstance(results[2], int)
    assert await _count(services) == 2  # both good jobs committed, nothing of the broken one


async def test_an_answer_comes_after_the_commit(services: Services) -> None:
    event_id = await services.db.write(_insert(1, 7))
    # A separate reader connection sees the row as soon as the writer has answered.
    async with services.db.read() as conn:
        row = (await conn.execute(select(events.c.payload).where(events.c.id == event_id))).one()
    assert row.payload == {"m": 7}


async def test_submitting_to_a_stopped_committer_is_refused(services: Services) -> None:
    await services.db.committer.stop()
    with pytest.raises(RuntimeError, match="not running"):
        await services.db.write(_insert(1, 1))
    await services.db.committer.start()
