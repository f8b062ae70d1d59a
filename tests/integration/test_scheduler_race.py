"""Two schedulers on PostgreSQL, each with its own engine and ingest, firing the same due ticks at
once: every tick gets exactly one fire row and one event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from tests.clocks import SettableClock
from tests.execution_rows import ADMIN
from tidings.domain.clock import Clock
from tidings.services.runtime import Services
from tidings.services.schedule_fires import ScheduleFirer
from tidings.services.schedule_specs import ScheduleSpec
from tidings.settings import Settings
from tidings.storage.delivery_tables import schedule_fires
from tidings.storage.tables import events

SCHEDULES = 60


@pytest.fixture
def engine_name() -> str:
    """PostgreSQL only: row locks are what keep two schedulers apart there."""
    return "postgresql"


@pytest.fixture
def clock() -> SettableClock:
    """Both schedulers read this clock."""
    return SettableClock("2026-03-02T12:00:00Z")


@pytest.fixture
async def second(settings: Settings, clock: Clock, services: Services) -> AsyncIterator[Services]:
    """Another process's services on the same database: its own engine, committer and ingest."""
    other = Services.build(settings, clock=clock)
    await other.start()
    try:
        yield other
    finally:
        await other.stop()


async def _drain(firer: ScheduleFirer) -> int:
    """Rounds until nothing is due; how many schedules this scheduler took."""
    taken = 0
    while n := await firer.fire_due():
        taken += n
    return taken


@pytest.mark.parametrize("misfire", ["fire_once", "fire_all"])
async def test_two_schedulers_fire_each_tick_once(
    services: Services, second: Services, clock: SettableClock, misfire: str
) -> None:
    for i in range(SCHEDULES):
        spec = ScheduleSpec(name=f"s{i}", cron="* * * * *", misfire=misfire)
        await services.schedules.create_schedule(ADMIN, spec=spec)
    # Down for three minutes and a half: fire_once fires 12:02 and 12:03 (on time) per schedule,
    # fire_all 12:01 as well.
    clock.set("2026-03-02T12:03:30Z")
    ticks = 3 if misfire == "fire_all" else 2
    a = ScheduleFirer(services.db, services.ingest, clock=clock, batch=7)
    b = ScheduleFirer(second.db, second.ingest, clock=clock, batch=7)
    taken = await asyncio.gather(_drain(a), _drain(b), _drain(a), _drain(b))
    assert sum(taken) == SCHEDULES  # each schedule was taken by one round of one scheduler
    async with services.db.read() as conn:
        fire_rows = (await conn.execute(select(func.count()).select_from(schedule_fires))).scalar()
        recorded = (
            await conn.execute(
                select(func.count(), func.count(events.c.request_id.distinct())).select_from(events)
            )
        ).one()
        unrecorded = (
            await conn.execute(
                select(func.count())
                .select_from(schedule_fires)
                .where(schedule_fires.c.event_id.is_(None))
            )
        ).scalar()
    assert (fire_rows, tuple(recorded), unrecorded) == (
        SCHEDULES * ticks,
        (SCHEDULES * ticks, SCHEDULES * ticks),
        0,
    )
