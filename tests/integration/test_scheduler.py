"""The scheduler's rounds on SQLite and PostgreSQL, with the services' clock set by the test: a tick
records one event and one fire row, misfire policies after downtime, one-shot and ending
schedules, failed fires as failed jobs (queued, retried with backoff, quit), resume and delete,
BLOCKED for a non-concurrent schedule, and ticks recorded by an earlier attempt."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.clocks import SettableClock
from tests.execution_rows import ADMIN
from tidings.domain.events import NewEvent
from tidings.domain.schedule_times import NS
from tidings.domain.timestamps import format_rfc3339, parse_rfc3339
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.ingest import IdempotencyClaim
from tidings.services.runtime import Services
from tidings.services.schedule_fires import ScheduleFirer
from tidings.services.schedule_plans import FailurePolicy
from tidings.services.schedule_specs import EventTemplate, ScheduleSpec
from tidings.storage import schedule_fires as fire_store
from tidings.storage.schedules import ScheduleRow
from tidings.storage.tables import events
from tidings.workers.scheduler import Scheduler

T0 = "2026-03-02T12:00:00Z"
MINUTE = 60 * NS
FAILURES = FailurePolicy(delays=(10 * NS, 20 * NS), max_failures=3)


@pytest.fixture
def clock() -> SettableClock:
    """Time stands still unless a test moves it."""
    return SettableClock(T0)


@pytest.fixture
def firer(services: Services, clock: SettableClock) -> ScheduleFirer:
    """The firer on the test clock, with short retry delays."""
    return ScheduleFirer(services.db, services.ingest, clock=clock, failures=FAILURES)


def at(text: str) -> int:
    return parse_rfc3339(text)


def iso(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)


async def create(services: Services, **fields: Any) -> ScheduleRow:
    """A schedule of the admin's tenant (every minute unless told otherwise)."""
    timed = "interval_seconds" in fields or "at" in fields
    values: dict[str, Any] = {"name": "tick", "cron": None if timed else "* * * * *"} | fields
    return await services.schedules.create_schedule(ADMIN, spec=ScheduleSpec(**values))


async def row(services: Services, schedule_id: int) -> ScheduleRow:
    return await services.schedules.get_schedule(ADMIN, schedule_id=schedule_id)


async def fires(services: Services, schedule_id: int) -> list[tuple[str | None, int | None, str]]:
    """(tick, event id, error or "") of a schedule's fire rows, oldest first."""
    async with services.db.read() as conn:
        found = await fire_store.list_fires(conn, schedule_id=schedule_id, limit=1000)
    return [(iso(f.fire_at), f.event_id, f.error or "") for f in reversed(found)]


async def recorded(services: Services) -> list[dict[str, Any]]:
    """Every event in the log, oldest first: id, type, request id, occurred_at, payload."""
    async with services.db.read() as conn:
        rows = await conn.execute(select(events).order_by(events.c.id))
        return [
            {
                "id": r.id,
                "type": r.type,
                "request_id": r.request_id,
                "occurred_at": iso(r.occurred_at),
                "payload": r.payload,
                "config": r.config,
            }
            for r in rows
        ]


async def test_a_due_tick_records_one_timer_event_and_one_fire(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    schedule = await create(services, policy_locator="P-1", event=EventTemplate(payload={"a": 1}))
    assert (schedule.state, iso(schedule.next_fire_at)) == ("NORMAL", "2026-03-02T12:01:00Z")
    assert await firer.fire_due() == 0  # not due yet
    clock.set("2026-03-02T12:01:00.250Z")
    assert await firer.fire_due() == 1
    origin = {
        "schedule_id": 1,
        "schedule": "tick",
        "group": "DEFAULT",
        "scheduled_for": "2026-03-02T12:01:00Z",
        "policy_locator": "P-1",
    }
    assert await recorded(services) == [
        {
            "id": 1,
            "type": "core.cron_timer",
            "request_id": f"schedule-1-{at('2026-03-02T12:01:00Z')}",
            "occurred_at": "2026-03-02T12:01:00Z",
            "payload": {"a": 1, **origin, "fired_at": "2026-03-02T12:01:00.25Z"},
            "config": {"schedule": origin},
        }
    ]
    assert await fires(services, 1) == [("2026-03-02T12:01:00Z", 1, "")]
    after = await row(services, 1)
    assert (after.state, iso(after.next_fire_at), iso(after.last_fire_at)) == (
        "NORMAL",
        "2026-03-02T12:02:00Z",
        "2026-03-02T12:01:00Z",
    )
    # Another round at the same instant finds nothing due: the tick fired once.
    assert await firer.fire_due() == 0
    assert len(await recorded(services)) == 1


async def test_a_named_event_type_keeps_its_payload_as_given(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    template = EventTemplate(type="billing.due", title="Invoice due", payload={"invoice": 7})
    await create(services, interval_seconds=30, event=template, custom_event_id="c-9")
    clock.set("2026-03-02T12:00:30Z")
    await firer.fire_due()
    [event] = await recorded(services)
    assert (event["type"], event["payload"], event["config"]["schedule"]["custom_event_id"]) == (
        "billing.due",
        {"invoice": 7},
        "c-9",
    )


@pytest.mark.parametrize(
    ("misfire", "ticks"),
    [
        # Down from 12:00:30 to 12:10:30: 12:01..12:09 misfired (older than 60 s); 12:10 is on time.
        ("fire_all", [f"2026-03-02T12:{m:02d}:00Z" for m in range(1, 11)]),
        ("fire_once", ["2026-03-02T12:09:00Z", "2026-03-02T12:10:00Z"]),
        ("skip", ["2026-03-02T12:10:00Z"]),
    ],
)
async def test_misfire_policies_after_downtime(
    services: Services,
    firer: ScheduleFirer,
    clock: SettableClock,
    misfire: str,
    ticks: list[str],
) -> None:
    await create(services, misfire=misfire)
    clock.set("2026-03-02T12:10:30Z")
    assert await firer.fire_due() == 1
    assert [tick for tick, _, _ in await fires(services, 1)] == ticks
    assert [e["occurred_at"] for e in await recorded(services)] == ticks
    after = await row(services, 1)
    assert (iso(after.next_fire_at), iso(after.last_fire_at)) == (
        "2026-03-02T12:11:00Z",
        ticks[-1],
    )


async def test_a_one_shot_fires_once_and_completes(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    schedule = await create(services, at=at("2026-03-02T12:05:00Z"))
    assert iso(schedule.next_fire_at) == "2026-03-02T12:05:00Z"
    clock.set("2026-03-02T12:05:01Z")
    await firer.fire_due()
    done = await row(services, 1)
    assert (done.state, done.next_fire_at, iso(done.last_fire_at)) == (
        "COMPLETE",
        None,
        "2026-03-02T12:05:00Z",
    )
    assert [e["type"] for e in await recorded(services)] == ["core.date_timer"]


async def test_a_one_shot_time_already_passed_follows_the_misfire_policy(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    await create(services, name="late", at=at("2026-03-02T11:00:00Z"))
    await create(services, name="dropped", at=at("2026-03-02T11:00:00Z"), misfire="skip")
    assert await firer.fire_due() == 2
    assert [(e["request_id"], e["occurred_at"]) for e in await recorded(services)] == [
        (f"schedule-1-{at('2026-03-02T11:00:00Z')}", "2026-03-02T11:00:00Z")
    ]
    assert [(await row(services, i)).state for i in (1, 2)] == ["COMPLETE", "COMPLETE"]


async def test_an_interval_stops_at_its_end(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    await create(services, interval_seconds=20, end_at=at("2026-03-02T12:01:00Z"))
    clock.set("2026-03-02T12:05:00Z")
    await firer.fire_due()
    ticks = [tick for tick, _, _ in await fires(services, 1)]
    # fire_once: the latest misfired tick, which end_at caps at 12:01:00; then nothing is left.
    assert ticks == ["2026-03-02T12:01:00Z"]
    assert ((await row(services, 1)).state, (await row(services, 1)).next_fire_at) == (
        "COMPLETE",
        None,
    )


@pytest.mark.parametrize(
    ("cron", "created", "expected"),
    [
        # 02:30 does not exist on 8 March in New York: it fires at 03:30 EDT (07:30Z).
        (
            "30 2 * * *",
            "2026-03-07T12:00:00Z",
            ["2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"],
        ),
        # 01:30 happens twice on 1 November: it fires at the first (EDT, 05:30Z) only.
        (
            "30 1 * * *",
            "2026-10-31T12:00:00Z",
            ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"],
        ),
    ],
)
async def test_a_daily_schedule_through_daylight_saving_changes(
    services: Services,
    firer: ScheduleFirer,
    clock: SettableClock,
    cron: str,
    created: str,
    expected: list[str],
) -> None:
    clock.set(created)
    await create(services, cron=cron, time_zone="America/New_York")
    for _ in expected:
        due = (await row(services, 1)).next_fire_at
        assert due is not None
        clock.ns = due
        await firer.fire_due()
    assert [tick for tick, _, _ in await fires(services, 1)] == expected


async def _strict_trigger(client: httpx.AsyncClient, admin: dict[str, str], ref: str) -> None:
    """A pack and a trigger whose payload must have `x`."""
    pack = ref.partition(".")[0]
    response = await client.post("/api/v1/packs", headers=admin, json={"ref": pack, "label": "P"})
    assert response.status_code == 201, response.text
    body = {"ref": ref, "label": "T", "payload_schema": {"type": "object", "required": ["x"]}}
    response = await client.post("/api/v1/triggers", headers=admin, json=body)
    assert response.status_code == 201, response.text


async def _fix(services: Services) -> ScheduleRow:
    """Give the schedule's event the field its trigger requires (the stored definition: name
    `tick`, every minute, type `mon.tick`)."""
    template = EventTemplate(type="mon.tick", payload={"x": 1})
    spec = ScheduleSpec(name="tick", cron="* * * * *", event=template)
    return await services.schedules.update_schedule(ADMIN, schedule_id=1, spec=spec)


async def test_a_failing_fire_is_retried_with_backoff_then_quits(
    services: Services,
    firer: ScheduleFirer,
    clock: SettableClock,
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    await create(services, event=EventTemplate(type="mon.tick"))
    # The trigger arrives after the schedule was saved, with a schema its events break.
    await _strict_trigger(client, admin, "mon.tick")
    clock.set("2026-03-02T12:01:00Z")
    await firer.fire_due()
    error = 'Invalid request data: payload: "x" is a required property'
    first = await row(services, 1)
    assert (
        first.state,
        first.failed_job_state,
        first.failure_count,
        iso(first.failed_job_created_at),
        iso(first.next_fire_at),
        first.last_error,
        first.last_fire_at,
    ) == ("NORMAL", "queued", 1, "2026-03-02T12:01:00Z", "2026-03-02T12:01:10Z", error, None)
    assert await fires(services, 1) == [("2026-03-02T12:01:00Z", None, error)]
    clock.set("2026-03-02T12:01:10Z")
    await firer.fire_due()
    second = await row(services, 1)
    assert (second.failure_count, iso(second.next_fire_at)) == (2, "2026-03-02T12:01:30Z")
    clock.set("2026-03-02T12:01:30Z")
    await firer.fire_due()
    quit_ = await row(services, 1)
    assert (
        quit_.state,
        quit_.failed_job_state,
        quit_.failure_count,
        quit_.next_fire_at,
        iso(quit_.failed_job_created_at),
        iso(quit_.failed_job_updated_at),
    ) == ("ERROR", "quit", 3, None, "2026-03-02T12:01:00Z", "2026-03-02T12:01:30Z")
    clock.set("2026-03-02T12:30:00Z")
    assert await firer.fire_due() == 0  # a schedule in ERROR does not fire
    assert await recorded(services) == []
    # Fixed (still in ERROR) and resumed: the failed tick fires at once, then the misfire policy
    # (fire_once) gives the latest tick missed since (12:29) and the on-time one (12:30).
    fixed = await _fix(services)
    assert (fixed.state, fixed.failed_job_state, fixed.next_fire_at) == ("ERROR", "quit", None)
    await services.schedules.resume_failed(ADMIN, name="tick", group="DEFAULT")
    resumed = await row(services, 1)
    assert (
        resumed.state,
        resumed.failure_count,
        resumed.failed_job_state,
        resumed.failed_job_created_at,
        iso(resumed.next_fire_at),
        resumed.resumed_by,
        iso(resumed.resumed_at),
    ) == ("NORMAL", 0, None, None, "2026-03-02T12:30:00Z", 1, "2026-03-02T12:30:00Z")
    await firer.fire_due()
    assert [(tick, event) for tick, event, _ in await fires(services, 1)] == [
        ("2026-03-02T12:01:00Z", 1),
        ("2026-03-02T12:29:00Z", 2),
        ("2026-03-02T12:30:00Z", 3),
    ]
    assert iso((await row(services, 1)).next_fire_at) == "2026-03-02T12:31:00Z"


async def test_a_retry_that_succeeds_clears_the_failed_job(
    services: Services,
    firer: ScheduleFirer,
    clock: SettableClock,
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    await create(services, event=EventTemplate(type="mon.tick"))
    await _strict_trigger(client, admin, "mon.tick")
    clock.set("2026-03-02T12:01:00Z")
    await firer.fire_due()
    clock.set("2026-03-02T12:01:05Z")
    fixed = await _fix(services)  # a queued failed tick is tried again at once with the fix
    assert (fixed.failed_job_state, iso(fixed.next_fire_at)) == ("queued", "2026-03-02T12:01:05Z")
    await firer.fire_due()
    healed = await row(services, 1)
    assert (
        healed.state,
        healed.failed_job_state,
        healed.failure_count,
        iso(healed.next_fire_at),
        iso(healed.last_fire_at),
    ) == ("NORMAL", None, 0, "2026-03-02T12:02:00Z", "2026-03-02T12:01:00Z")
    assert await fires(services, 1) == [("2026-03-02T12:01:00Z", 1, "")]


async def test_deleting_a_failed_job_drops_its_tick_and_carries_on(
    services: Services,
    firer: ScheduleFirer,
    clock: SettableClock,
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    await create(services, event=EventTemplate(type="mon.tick"))
    await _strict_trigger(client, admin, "mon.tick")
    clock.set("2026-03-02T12:01:00Z")
    await firer.fire_due()
    clock.set("2026-03-02T12:01:05Z")
    await services.schedules.delete_failed(ADMIN, name="tick", group="DEFAULT")
    cleared = await row(services, 1)
    assert (
        cleared.state,
        cleared.failed_job_state,
        cleared.failure_count,
        iso(cleared.next_fire_at),
    ) == ("NORMAL", None, 0, "2026-03-02T12:02:00Z")
    assert await fires(services, 1) == []
    # The next tick fails again (nothing was fixed), as a new failed job of its own.
    clock.set("2026-03-02T12:02:00Z")
    await firer.fire_due()
    again = await row(services, 1)
    assert (again.failed_job_state, again.failure_count, iso(again.failed_job_created_at)) == (
        "queued",
        1,
        "2026-03-02T12:02:00Z",
    )
    assert [tick for tick, _, _ in await fires(services, 1)] == ["2026-03-02T12:02:00Z"]


async def test_a_tick_recorded_by_an_earlier_attempt_is_not_recorded_again(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    """A scheduler that died after recording a tick's event but before writing its fire left the
    schedule due: the next round finds the event by its request id, or ingest replays its key."""
    await create(services, name="a")
    await create(services, name="b")
    tick = at("2026-03-02T12:01:00Z")
    clock.set("2026-03-02T12:01:00Z")
    principal = replace(ADMIN, permissions=frozenset({"events:write"}))
    for schedule_id in (1, 2):
        key = f"schedule-{schedule_id}-{tick}"
        await services.ingest.ingest(
            principal=principal,
            new_events=[NewEvent(type="core.cron_timer", payload={"earlier": schedule_id})],
            request_id=key,
            render=lambda stored: (201, b"[%d]" % stored[0].id),
            # b's earlier attempt left only its idempotency key behind (its event was removed
            # from the log below), as when the key outlives a lookup that misses.
            claim=IdempotencyClaim(key, hashlib.sha256(key.encode()).hexdigest()),
        )
    async with services.db.transaction() as conn:
        await conn.execute(events.update().where(events.c.id == 2).values(request_id="gone"))
    await firer.fire_due()
    assert [(tick_, event) for tick_, event, _ in await fires(services, 1)] == [
        ("2026-03-02T12:01:00Z", 1)
    ]
    assert [(tick_, event) for tick_, event, _ in await fires(services, 2)] == [
        ("2026-03-02T12:01:00Z", 2)
    ]
    assert len(await recorded(services)) == 2


async def test_a_non_concurrent_schedule_is_blocked_while_its_previous_fire_runs(
    services: Services,
    firer: ScheduleFirer,
    clock: SettableClock,
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    response = await client.post("/api/v1/packs", headers=admin, json={"ref": "mon", "label": "M"})
    assert response.status_code == 201
    trigger = {"ref": "mon.tick", "label": "Tick"}
    assert (await client.post("/api/v1/triggers", headers=admin, json=trigger)).status_code == 201
    rule = {
        "ref": "mon.on_tick",
        "pack_ref": "mon",
        "label": "On tick",
        "description": "Runs a no-op on every tick",
        "trigger_ref": "mon.tick",
        "action_ref": "core.noop",
    }
    assert (await client.post("/api/v1/rules", headers=admin, json=rule)).status_code == 201
    await create(services, concurrent=False, event=EventTemplate(type="mon.tick"))
    await create(services, name="free", event=EventTemplate(type="mon.tick"))
    clock.set("2026-03-02T12:01:00Z")
    await firer.fire_due()
    # Both fired; their rule's executions are queued (no worker runs here).
    clock.set("2026-03-02T12:02:00Z")
    await firer.fire_due()
    blocked = await row(services, 1)
    assert (blocked.state, iso(blocked.next_fire_at)) == ("BLOCKED", "2026-03-02T12:02:00Z")
    assert [tick for tick, _, _ in await fires(services, 2)] == [
        "2026-03-02T12:01:00Z",
        "2026-03-02T12:02:00Z",
    ]
    assert await firer.release_blocked() == 0  # still queued
    queue = ExecutionQueue(services.db, clock=clock, box=services.box)
    claimed = await queue.claim(worker="w", limit=10, lease_seconds=30)
    for execution in claimed:
        await queue.succeed(execution, worker="w", result=None)
    assert await firer.release_blocked() == 1
    clock.set("2026-03-02T12:02:30Z")
    await firer.fire_due()
    assert [tick for tick, _, _ in await fires(services, 1)] == [
        "2026-03-02T12:01:00Z",
        "2026-03-02T12:02:00Z",
    ]
    assert (await row(services, 1)).state == "NORMAL"


async def test_the_loop_sleeps_until_the_next_tick_at_most_its_cap(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    scheduler = Scheduler(firer, services.schedule_signal, clock=clock, max_sleep_seconds=5)
    assert await scheduler.run_once() == 5  # nothing scheduled
    await create(services, at=at("2026-03-02T12:00:02Z"))
    assert await scheduler.run_once() == 2
    clock.set("2026-03-02T12:00:02Z")
    assert await scheduler.run_once() == 5  # fired; the one-shot is complete
    assert len(await recorded(services)) == 1


async def test_a_running_loop_is_woken_by_a_saved_schedule(
    services: Services, firer: ScheduleFirer, clock: SettableClock
) -> None:
    scheduler = Scheduler(firer, services.schedule_signal, clock=clock, max_sleep_seconds=60)
    await scheduler.start()
    try:
        await asyncio.sleep(0.2)  # asleep for up to a minute: nothing is scheduled
        await create(services, at=at(T0))  # due now: saving it wakes the loop
        async with asyncio.timeout(10):
            while (await row(services, 1)).state != "COMPLETE":
                await asyncio.sleep(0.02)
    finally:
        await scheduler.stop()
    assert len(await recorded(services)) == 1


async def test_resuming_a_schedule_in_error_resumes_its_failed_job(
    services: Services,
    clock: SettableClock,
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    quick = ScheduleFirer(
        services.db, services.ingest, clock=clock, failures=FailurePolicy(max_failures=1)
    )
    await create(services, event=EventTemplate(type="mon.tick"))
    await _strict_trigger(client, admin, "mon.tick")
    clock.set("2026-03-02T12:01:00Z")
    await quick.fire_due()
    assert ((await row(services, 1)).state, (await row(services, 1)).failed_job_state) == (
        "ERROR",
        "quit",
    )
    paused = await services.schedules.pause(ADMIN, schedule_id=1)
    assert (paused.state, paused.failed_job_state) == ("PAUSED", "quit")
    await _fix(services)
    clock.set("2026-03-02T12:03:10Z")
    resumed = await services.schedules.resume(ADMIN, schedule_id=1)
    # Its failed job had quit: resuming it resumes the job, even from PAUSED. Due at once: the
    # failed tick first, then fire_once from it (12:02 misfired, 12:03 on time).
    assert (
        resumed.state,
        iso(resumed.next_fire_at),
        resumed.failed_job_state,
        resumed.failure_count,
    ) == ("NORMAL", "2026-03-02T12:03:10Z", None, 0)
    await quick.fire_due()
    assert [(tick, event) for tick, event, _ in await fires(services, 1)] == [
        ("2026-03-02T12:01:00Z", 1),
        ("2026-03-02T12:02:00Z", 2),
        ("2026-03-02T12:03:00Z", 3),
    ]
    assert iso((await row(services, 1)).next_fire_at) == "2026-03-02T12:04:00Z"


class GatedFirer(ScheduleFirer):
    """The real firer, whose rounds wait at a gate the test opens: a round caught mid-way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def fire_due(self) -> int:
        self.entered.set()
        await self.gate.wait()
        return await super().fire_due()


@pytest.mark.parametrize(("grace", "finished"), [(10.0, True), (0.2, False)])
async def test_a_stop_lets_the_round_in_progress_finish_within_its_grace(
    services: Services, clock: SettableClock, grace: float, finished: bool
) -> None:
    firer = GatedFirer(services.db, services.ingest, clock=clock)
    scheduler = Scheduler(firer, services.schedule_signal, clock=clock, stop_grace_seconds=grace)
    schedule = await create(services, at=at(T0))
    await scheduler.start()
    async with asyncio.timeout(10):
        await firer.entered.wait()
        stopping = asyncio.create_task(scheduler.stop())
        await asyncio.sleep(0.5)
        firer.gate.set()  # opened after the stop began, and after a short grace ran out
        await stopping
    state = (await row(services, schedule.id)).state
    assert (state, len(await recorded(services))) == (
        ("COMPLETE", 1) if finished else ("NORMAL", 0)
    )
