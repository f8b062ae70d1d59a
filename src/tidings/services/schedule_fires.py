"""Firing due schedules: each tick records one ordinary event through ingest, exactly once across
every scheduler process, and the schedule moves on to its next tick.

One round takes a batch of due schedules, decides their ticks (`schedule_plans`), records the
ticks' events, then writes the fire rows and the schedules' next fire times. Exactly once rests
on three things, each covering what the others cannot:

- On PostgreSQL the batch is taken `FOR UPDATE SKIP LOCKED` in a transaction held open until its
  fires are written: another scheduler skips those schedules meanwhile, and finds them advanced
  when it looks again (a crash rolls the transaction back, so they are due again, unchanged). On
  SQLite one process schedules (`tidings serve`), and the final write checks that the schedule
  is still as it was read.
- Each tick's event carries the request id and idempotency key `schedule-<id>-<tick>`: ingest
  stores the key in the event's own transaction, so a second attempt at a tick — after a crash
  between recording the event and writing its fire, or from a scheduler racing on the same tick
  — replays the first answer instead of recording a second event.
- Before recording, a batch looks its ticks' request ids up among the events, so a tick recorded
  longer ago than the idempotency keys are kept is still found.

The fire rows (primary key: schedule, tick) are written after the events, in the same write as
the schedule's advance; a retried tick's row is filled in, never duplicated.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Principal, internal_writer
from tidings.domain.clock import Clock
from tidings.domain.errors import TidingsError
from tidings.domain.events import Event
from tidings.domain.schedule_times import TriggerState
from tidings.services.database import Database
from tidings.services.ingest import IdempotencyClaim, Ingestor
from tidings.services.schedule_plans import (
    MISFIRE_THRESHOLD_NS,
    FailurePolicy,
    Tick,
    plan_ticks,
    settled,
)
from tidings.services.schedule_specs import fire_event, request_id
from tidings.storage import schedule_fires as fire_store
from tidings.storage import schedules as schedule_store
from tidings.storage import tenants as tenant_store
from tidings.storage.schedule_fires import FireRow
from tidings.storage.schedules import ScheduleRow

log = structlog.get_logger(__name__)

SCHEDULER_NAME = "tidings-scheduler"  # no account: like the workers, it acts as Tidings itself
BATCH = 500


@dataclass(frozen=True)
class _Work:
    row: ScheduleRow
    tick: Tick
    recorded: dict[int, int]  # tick -> event id already in the log


@dataclass(frozen=True)
class _Outcome:
    work: _Work
    events: list[tuple[int, int]]  # (tick, event id), in tick order
    failed: tuple[int, str] | None  # the tick that failed, and why


def _render(stored: list[Event]) -> tuple[int, bytes]:
    return 201, orjson.dumps([event.id for event in stored])


class ScheduleFirer:
    """Fires the due schedules of every tenant; used by the scheduler loop of each process."""

    def __init__(
        self,
        db: Database,
        ingest: Ingestor,
        *,
        clock: Clock,
        failures: FailurePolicy | None = None,
        threshold_ns: int = MISFIRE_THRESHOLD_NS,
        batch: int = BATCH,
    ) -> None:
        self._db = db
        self._ingest = ingest
        self._clock = clock
        self._failures = failures or FailurePolicy()
        self._threshold_ns = threshold_ns
        self._batch = batch
        self._locators: dict[int, str] = {}

    @property
    def batch(self) -> int:
        """How many schedules one round takes at most."""
        return self._batch

    async def fire_due(self) -> int:
        """One round: fire up to a batch of due schedules; how many were due."""
        now = self._clock.now_ns()
        if self._db.dialect == "postgresql":
            async with self._db.engines.writer.begin() as conn:  # writes no events: no stream lock
                due = await schedule_store.claim_due(conn, now=now, limit=self._batch, lock=True)
                if due:
                    outcomes = await self._emit(await self._prepare(conn, due, now), now)
                    await self._record(conn, outcomes, now)
            return len(due)
        async with self._db.read() as conn:
            due = await schedule_store.claim_due(conn, now=now, limit=self._batch, lock=False)
            works = await self._prepare(conn, due, now) if due else []
        if due:
            outcomes = await self._emit(works, now)
            await self._db.write(lambda conn: self._record(conn, outcomes, now))
        return len(due)

    async def release_blocked(self) -> int:
        """Return BLOCKED schedules whose previous fire has finished running to NORMAL."""
        lock = self._db.dialect == "postgresql"

        async def work(conn: AsyncConnection) -> int:
            rows = await schedule_store.blocked(conn, limit=self._batch, lock=lock)
            busy = await _busy(conn, rows, await _newest(conn, rows))
            released = 0
            for row in rows:
                if row.id not in busy:
                    released += await schedule_store.advance(
                        conn,
                        schedule_id=row.id,
                        seen_state=TriggerState.BLOCKED.value,
                        seen_next=row.next_fire_at,
                        values={"state": TriggerState.NORMAL.value},
                    )
            return released

        return await self._db.write(work)

    async def next_due(self) -> int | None:
        """When the earliest schedule fires next (None: none will)."""
        async with self._db.read() as conn:
            return await schedule_store.next_due(conn)

    # -- one round ------------------------------------------------------------------------------

    async def _prepare(
        self, conn: AsyncConnection, due: list[ScheduleRow], now: int
    ) -> list[_Work]:
        newest = await _newest(conn, due)
        busy = await _busy(conn, [r for r in due if not r.concurrent], newest)
        ticks: list[tuple[ScheduleRow, Tick]] = []
        for row in due:
            last = newest.get(row.id)
            retry = last.fire_at if last is not None and last.event_id is None else None
            tick = plan_ticks(
                row,
                now=now,
                retry_tick=retry,
                in_progress=row.id in busy,
                threshold_ns=self._threshold_ns,
            )
            ticks.append((row, tick))
        recorded = await _recorded(conn, ticks)
        return [_Work(row, tick, _known(row, tick, recorded)) for row, tick in ticks]

    async def _emit(self, works: list[_Work], now: int) -> list[_Outcome]:
        """Record every tick's event: schedules side by side (ingest writes them together),
        the ticks of one schedule in order, stopping at the first that fails."""
        principals = {t: await self._principal(t) for t in {w.row.tenant_id for w in works}}
        return list(
            await asyncio.gather(
                *(self._emit_one(work, principals[work.row.tenant_id], now) for work in works)
            )
        )

    async def _emit_one(self, work: _Work, principal: Principal, now: int) -> _Outcome:
        events: list[tuple[int, int]] = []
        for fire_at in work.tick.fires:
            known = work.recorded.get(fire_at)
            if known is not None:
                events.append((fire_at, known))
                continue
            try:
                event_id = await self._record_event(work.row, principal, fire_at, now)
                events.append((fire_at, event_id))
            except TidingsError as exc:
                return _Outcome(work, events, (fire_at, exc.message))
            except Exception as exc:  # a bug must not stop the other schedules' fires
                log.exception("scheduler.fire_failed", schedule_id=work.row.id, fire_at=fire_at)
                return _Outcome(work, events, (fire_at, f"{type(exc).__name__}: {exc}"))
        return _Outcome(work, events, None)

    async def _record_event(
        self, row: ScheduleRow, principal: Principal, fire_at: int, now: int
    ) -> int:
        key = request_id(row.id, fire_at)
        outcome = await self._ingest.ingest(
            principal=principal,
            new_events=[fire_event(row, fire_at=fire_at, now=now)],
            request_id=key,
            render=_render,
            # The fingerprint is the key's own: the tick is the request, whatever the schedule's
            # event looks like by the time a retry comes.
            claim=IdempotencyClaim(key, hashlib.sha256(key.encode()).hexdigest()),
        )
        ids: list[int] = orjson.loads(outcome.body)
        return ids[0]

    async def _record(self, conn: AsyncConnection, outcomes: list[_Outcome], now: int) -> None:
        fires: list[FireRow] = []
        for outcome in outcomes:
            row = outcome.work.row
            for fire_at, event_id in outcome.events:
                fires.append(FireRow(row.id, row.tenant_id, fire_at, now, event_id, None))
            if outcome.failed is not None:
                fire_at, error = outcome.failed
                fires.append(FireRow(row.id, row.tenant_id, fire_at, now, None, error))
        await fire_store.save_fires(conn, rows=fires)
        changes = []
        for outcome in outcomes:
            row = outcome.work.row
            values = settled(
                row,
                outcome.work.tick,
                recorded=[fire_at for fire_at, _ in outcome.events],
                failure=None if outcome.failed is None else outcome.failed[1],
                now=now,
                policy=self._failures,
            )
            assert row.next_fire_at is not None  # it was due
            changes.append((row.id, row.state, row.next_fire_at, values))
            if outcome.failed is not None:
                log.warning(
                    "scheduler.fire_failed",
                    schedule_id=row.id,
                    fire_at=outcome.failed[0],
                    error=outcome.failed[1],
                    failures=values.get("failure_count"),
                )
        await schedule_store.advance_many(conn, changes=changes)

    async def _principal(self, tenant_id: int) -> Principal:
        locator = self._locators.get(tenant_id)
        if locator is None:
            async with self._db.read() as conn:
                tenant = await tenant_store.find_tenant(conn, tenant_id=tenant_id)
            assert tenant is not None  # schedules are deleted with their tenant
            locator = self._locators[tenant_id] = tenant.locator
        return internal_writer(tenant_id=tenant_id, tenant_locator=locator, name=SCHEDULER_NAME)


async def _newest(conn: AsyncConnection, rows: Sequence[ScheduleRow]) -> dict[int, FireRow]:
    return await fire_store.newest_fires(conn, schedule_ids=[r.id for r in rows])


async def _busy(
    conn: AsyncConnection, rows: Sequence[ScheduleRow], newest: dict[int, FireRow]
) -> set[int]:
    """Which of these schedules' previous fires still have runs in progress."""
    by_tenant: dict[int, dict[int, int]] = {}  # tenant -> event id -> schedule id
    for row in rows:
        last = newest.get(row.id)
        if last is not None and last.event_id is not None:
            by_tenant.setdefault(row.tenant_id, {})[last.event_id] = row.id
    busy: set[int] = set()
    for tenant_id, schedule_of in by_tenant.items():
        running = await fire_store.events_in_progress(
            conn, tenant_id=tenant_id, event_ids=list(schedule_of)
        )
        busy.update(schedule_of[event_id] for event_id in running)
    return busy


def _known(row: ScheduleRow, tick: Tick, recorded: dict[str, int]) -> dict[int, int]:
    """The event ids of the ticks of `row` that are recorded already."""
    return {
        fire_at: recorded[key]
        for fire_at in tick.fires
        if (key := request_id(row.id, fire_at)) in recorded
    }


async def _recorded(conn: AsyncConnection, ticks: list[tuple[ScheduleRow, Tick]]) -> dict[str, int]:
    """The ticks among these whose events are in the log already, by request id."""
    by_tenant: dict[int, list[str]] = {}
    for row, tick in ticks:
        by_tenant.setdefault(row.tenant_id, []).extend(request_id(row.id, f) for f in tick.fires)
    found: dict[str, int] = {}
    for tenant_id, ids in by_tenant.items():
        found.update(await fire_store.recorded_events(conn, tenant_id=tenant_id, request_ids=ids))
    return found
