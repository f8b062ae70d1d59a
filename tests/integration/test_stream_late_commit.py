"""A stream follower never skips an event whose transaction commits after a later-numbered one.

On PostgreSQL two transactions can commit out of id order (DESIGN.md, "Known traps"): a follower
that read id 11 and resumed "after 11" would never see id 10. These tests open the two
transactions by hand and commit them in the wrong order while a follower polls in between.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from tests.api.helpers import settle
from tests.conftest import ADMIN_TOKEN
from tidings.domain.access import Principal
from tidings.domain.events import NewEvent
from tidings.services.event_stream import StreamPage
from tidings.services.runtime import Services
from tidings.storage import event_stream as stream_store
from tidings.storage import events as event_store
from tidings.storage.tables import events


async def _insert(services: Services, conn: AsyncConnection, tenant_id: int, name: str) -> int:
    ids = await event_store.insert_events(
        conn,
        tenant_id=tenant_id,
        new_events=[NewEvent(type="t", payload={"name": name})],
        actor_id=None,
        request_id=None,
        now=services.clock.now_ns(),
    )
    return ids[0]


async def _committed(services: Services, tenant_id: int, name: str) -> int:
    async with services.db.transaction() as conn:
        return await _insert(services, conn, tenant_id, name)


async def _read(
    services: Services, principal: Principal, token: str | None, page_size: int = 100
) -> StreamPage:
    """One stream read, as a follower polls."""
    return await services.stream.read(
        principal=principal, filters=None, token=token, page_size=page_size
    )


def _ids(page: StreamPage) -> list[int]:
    return [event.id for event in page.events]


async def _commit_txs(services: Services) -> dict[int, int]:
    async with services.db.read() as conn:
        rows = await conn.execute(select(events.c.id, events.c.commit_tx))
        return {row.id: row.commit_tx for row in rows}


async def test_late_commit_is_never_skipped(services: Services, engine_name: str) -> None:
    if engine_name == "sqlite":
        pytest.skip("SQLite has one writer: its transactions cannot commit out of id order")
    principal = await services.auth.authenticate(ADMIN_TOKEN)
    tenant_id = principal.tenant_id
    early = await _committed(services, tenant_id, "early")
    # Past this point `early` stays below the horizon whatever else runs on the server.
    await settle(services)
    before = await _read(services, principal, None)
    assert _ids(before) == [early]

    engine = services.db.engines.writer
    async with engine.connect() as first, engine.connect() as second:
        first_tx = await first.begin()
        await stream_store.take_writer_lock(first)  # as every write transaction of ours does
        low = await _insert(services, first, tenant_id, "low")
        open_xid = int(
            (await first.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar_one()
        )
        second_tx = await second.begin()
        await stream_store.take_writer_lock(second)
        high = await _insert(services, second, tenant_id, "high")
        # The first-begun transaction took the lower id.
        assert (low, high) == (early + 1, early + 2)
        await second_tx.commit()

        # The trap is real: the higher id is committed and visible to a plain id-order reader.
        async with services.db.read() as conn:
            visible = (await conn.execute(select(events.c.id).order_by(events.c.id))).scalars()
            assert list(visible) == [early, high]

        resumed = await _read(services, principal, before.token)
        fresh = await _read(services, principal, None)
        # Nothing that orders after the open transaction is returned while it is open: not the
        # committed higher id, whose position is past the open transaction's horizon.
        assert _ids(resumed) == []
        assert _ids(fresh) == [early]
        positions = await _commit_txs(services)
        assert all(positions[event.id] < open_xid for event in fresh.events)
        assert positions[high] > open_xid
        await first_tx.commit()
    await settle(services)

    # Following the token taken between the commits yields both events, in commit order.
    after = await _read(services, principal, resumed.token, page_size=1)
    rest = await _read(services, principal, after.token, page_size=1)
    end = await _read(services, principal, rest.token, page_size=1)
    assert (_ids(after), _ids(rest), _ids(end)) == ([low], [high], [])
    assert _ids(await _read(services, principal, fresh.token)) == [low, high]


async def test_sequential_commits_follow_in_id_order(services: Services, engine_name: str) -> None:
    principal = await services.auth.authenticate(ADMIN_TOKEN)
    first = [await _committed(services, principal.tenant_id, f"a{n}") for n in range(3)]
    await settle(services)
    page = await _read(services, principal, None, page_size=2)
    assert _ids(page) == first[:2]
    page = await _read(services, principal, page.token, page_size=2)
    assert _ids(page) == first[2:]
    end = await _read(services, principal, page.token, page_size=2)
    assert _ids(end) == []
    second = [await _committed(services, principal.tenant_id, f"b{n}") for n in range(2)]
    await settle(services)
    assert _ids(await _read(services, principal, end.token, page_size=2)) == second
    assert first + second == list(range(first[0], first[0] + 5))
    if engine_name == "sqlite":
        # SQLite's single writer commits in id order, so the stream's order is the id alone.
        assert set((await _commit_txs(services)).values()) == {0}


async def test_a_transaction_that_writes_no_events_does_not_hold_the_stream(
    services: Services, engine_name: str, database_url: str | None
) -> None:
    """Someone else's long transaction on the same server (here in the `postgres` database)."""
    if engine_name == "sqlite":
        pytest.skip("SQLite has no concurrent writers")
    assert database_url is not None
    principal = await services.auth.authenticate(ADMIN_TOKEN)
    other_db = make_url(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    outsider = create_async_engine(other_db.set(database="postgres"))
    try:
        async with outsider.connect() as conn:
            await conn.begin()
            # An open transaction that has a transaction id, as any writing transaction has.
            await conn.execute(text("SELECT pg_current_xact_id()"))
            created = await _committed(services, principal.tenant_id, "while-outsider-runs")
            # Other Tidings writers on this server (another test run) may hold the horizon for a
            # moment; the outsider, which stays open throughout, must not.
            await settle(services, timeout=10.0)
            page = await _read(services, principal, None)
            assert _ids(page) == [created]
            await conn.rollback()
    finally:
        await outsider.dispose()
