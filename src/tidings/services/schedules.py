"""Schedules as their owners manage them: create, read, change, pause, resume, delete, and the
failed jobs of fires that could not record their event (Socotra's failed scheduled events).

Permissions: reading needs `events:read` (Socotra's security group for its schedule reads);
changing a schedule needs `schedules:write`. A failed job's resume and delete take the permission
the caller's dialect names (Socotra's document says `events:write`), `schedules:write` otherwise.

States are Quartz's. Saving or resuming puts a schedule in NORMAL with its next fire computed from
now (COMPLETE when it has none left). PAUSED schedules do not fire; resuming one skips the ticks
it missed while paused. A failed job — a fire whose event could not be recorded — is `queued`
while the fire is retried with backoff and `quit` once it gave up, which puts the schedule in
ERROR. Resuming a failed job forgives it: the failure count goes to 0, the job is cleared, the
schedule is due at once, so the failed tick is tried again now and the ticks missed since follow
the misfire policy; who resumed it and when are recorded. Deleting a failed job drops its failed
tick for good and carries on from the next tick after now.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require
from tidings.domain.clock import Clock
from tidings.domain.errors import Conflict, FieldProblem, InvalidInput, NotFound
from tidings.domain.schedule_times import TriggerState
from tidings.services.database import Database
from tidings.services.rule_engine import RuleEngine
from tidings.services.schedule_specs import (
    ScheduleSpec,
    columns,
    fire_event,
    first_fire,
    next_from_now,
    spec_problems,
)
from tidings.services.work_signal import WorkSignal
from tidings.storage import schedule_fires as fire_store
from tidings.storage import schedules as schedule_store
from tidings.storage.schedules import ScheduleFilter, ScheduleRow

FAILED_JOB_STATES = ("queued", "quit")
_CLEARED_JOB = {
    "failure_count": 0,
    "failed_job_state": None,
    "failed_job_created_at": None,
    "failed_job_updated_at": None,
}


@dataclass(frozen=True)
class SchedulePage:
    """One page of schedules, with the total the filter matches."""

    items: list[ScheduleRow]
    total: int


@dataclass(frozen=True)
class FailedJob:
    """A schedule whose latest fire failed: `queued` (will retry) or `quit` (gave up)."""

    schedule_id: int
    name: str
    group: str
    state: str
    failure_count: int
    created_at: int
    updated_at: int
    last_error: str | None
    policy_locator: str | None


def _failed_job(row: ScheduleRow) -> FailedJob:
    assert row.failed_job_state is not None
    return FailedJob(
        schedule_id=row.id,
        name=row.name,
        group=row.group_name,
        state=row.failed_job_state,
        failure_count=row.failure_count,
        created_at=row.failed_job_created_at or row.updated_at,
        updated_at=row.failed_job_updated_at or row.updated_at,
        last_error=row.last_error,
        policy_locator=row.policy_locator,
    )


def _not_found(schedule_id: int) -> NotFound:
    return NotFound(f"Schedule with ID {schedule_id} not found")


def _active_state(next_fire_at: int | None) -> str:
    return TriggerState.NORMAL.value if next_fire_at is not None else TriggerState.COMPLETE.value


class ScheduleAdmin:
    """The schedules of each tenant, for the native API and Socotra's schedule endpoints."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        engine: RuleEngine | None = None,
        signal: WorkSignal | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._engine = engine
        self._signal = signal

    @asynccontextmanager
    async def _changing(self, spec: ScheduleSpec | None = None) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._db.transaction() as conn:
                yield conn
        except IntegrityError:  # a concurrent save took the same name first
            assert spec is not None
            raise _taken(spec) from None
        if self._signal is not None:  # the scheduler of this process looks again
            self._signal.notify()

    async def list_schedules(
        self, principal: Principal, *, flt: ScheduleFilter, page: int, per_page: int
    ) -> SchedulePage:
        """A page of the tenant's schedules, oldest first."""
        require(principal, Permission.EVENTS_READ)
        async with self._db.read() as conn:
            tenant = principal.tenant_id
            items = await schedule_store.list_schedules(
                conn, tenant_id=tenant, flt=flt, offset=(page - 1) * per_page, limit=per_page
            )
            total = await schedule_store.count_schedules(conn, tenant_id=tenant, flt=flt)
        return SchedulePage(items, total)

    async def get_schedule(self, principal: Principal, *, schedule_id: int) -> ScheduleRow:
        """One schedule of the caller's tenant, or NotFound."""
        require(principal, Permission.EVENTS_READ)
        async with self._db.read() as conn:
            return await _existing(conn, principal.tenant_id, schedule_id)

    async def create_schedule(self, principal: Principal, *, spec: ScheduleSpec) -> ScheduleRow:
        """A new schedule; 400 naming the field at fault, 409 when its name is taken."""
        require(principal, Permission.SCHEDULES_WRITE)
        _refuse(spec_problems(spec))
        now = self._clock.now_ns()
        tenant = principal.tenant_id
        async with self._changing(spec) as conn:
            if await schedule_store.find_by_key(
                conn, tenant_id=tenant, name=spec.name, group=spec.group
            ):
                raise _taken(spec)
            values = {
                **columns(spec, now=now),
                "tenant_id": tenant,
                "state": TriggerState.NORMAL.value,
                "created_by": principal.id or None,
                "created_at": now,
                "updated_at": now,
            }
            schedule_id = await schedule_store.insert_schedule(conn, values=values)
            row = await _existing(conn, tenant, schedule_id)
            await self._check_event(conn, row, now)
            first = first_fire(row, now=now)
            await self._set(conn, row, {"next_fire_at": first, "state": _active_state(first)})
            return await _existing(conn, tenant, schedule_id)

    async def update_schedule(
        self, principal: Principal, *, schedule_id: int, spec: ScheduleSpec
    ) -> ScheduleRow:
        """Replace a schedule's definition; its next fire is computed again from now (a failed
        tick waiting for its retry is retried at once). A paused schedule stays paused and one in
        ERROR keeps its failed job."""
        require(principal, Permission.SCHEDULES_WRITE)
        _refuse(spec_problems(spec))
        now = self._clock.now_ns()
        tenant = principal.tenant_id
        async with self._changing(spec) as conn:
            old = await _existing(conn, tenant, schedule_id)
            other = await schedule_store.find_by_key(
                conn, tenant_id=tenant, name=spec.name, group=spec.group
            )
            if other is not None and other.id != schedule_id:
                raise _taken(spec)
            values = {**columns(spec, now=now), "updated_at": now}
            if (
                old.timing == "interval"
                and spec.timing_kind == "interval"
                and spec.start_at is None
            ):
                values["start_at"] = old.start_at  # the interval keeps counting from its anchor
            await self._set(conn, old, values)
            row = await _existing(conn, tenant, schedule_id)
            await self._check_event(conn, row, now)
            if row.state in (TriggerState.PAUSED.value, TriggerState.ERROR.value):
                return row
            # A failed tick waiting for its retry is tried again at once, with the new definition.
            first = now if row.failed_job_state == "queued" else first_fire(row, now=now)
            await self._set(conn, row, {"next_fire_at": first, "state": _active_state(first)})
            return await _existing(conn, tenant, schedule_id)

    async def delete_schedule(self, principal: Principal, *, schedule_id: int) -> None:
        """Remove a schedule and its fire history; the events it recorded stay."""
        require(principal, Permission.SCHEDULES_WRITE)
        async with self._changing() as conn:
            tenant = principal.tenant_id
            if not await schedule_store.delete_schedule(
                conn, tenant_id=tenant, schedule_id=schedule_id
            ):
                raise _not_found(schedule_id)

    async def pause(self, principal: Principal, *, schedule_id: int) -> ScheduleRow:
        """Stop firing until resumed (pausing a paused schedule changes nothing)."""
        require(principal, Permission.SCHEDULES_WRITE)
        now = self._clock.now_ns()
        async with self._changing() as conn:
            row = await _existing(conn, principal.tenant_id, schedule_id)
            if row.state == TriggerState.COMPLETE.value:
                raise Conflict(f"Schedule {schedule_id} is complete: it has no fire left to pause")
            if row.state != TriggerState.PAUSED.value:
                await self._set(conn, row, {"state": TriggerState.PAUSED.value, "updated_at": now})
            return await _existing(conn, principal.tenant_id, schedule_id)

    async def resume(self, principal: Principal, *, schedule_id: int) -> ScheduleRow:
        """Fire again: a paused schedule from its next tick after now; one whose failed job quit
        (ERROR, or paused since) as resuming its failed job does. Resuming a schedule that runs
        changes nothing."""
        require(principal, Permission.SCHEDULES_WRITE)
        now = self._clock.now_ns()
        async with self._changing() as conn:
            row = await _existing(conn, principal.tenant_id, schedule_id)
            if row.state == TriggerState.COMPLETE.value:
                raise Conflict(f"Schedule {schedule_id} is complete: it has no fire left")
            if row.state == TriggerState.ERROR.value or row.failed_job_state == "quit":
                await self._forgive(conn, row, principal, now)  # also when paused since
            elif row.state == TriggerState.PAUSED.value:
                following = next_from_now(row, now=now)
                values = {
                    "next_fire_at": following,
                    "state": _active_state(following),
                    "resumed_by": principal.id or None,
                    "resumed_at": now,
                    "updated_at": now,
                }
                await self._set(conn, row, values)
            return await _existing(conn, principal.tenant_id, schedule_id)

    # -- Socotra's views and the failed jobs ----------------------------------------------------

    async def policy_schedules(
        self, principal: Principal, *, policy_locator: str
    ) -> list[ScheduleRow]:
        """Every schedule of one policy (Socotra's scheduled policy events), oldest first."""
        require(principal, Permission.EVENTS_READ)
        flt = ScheduleFilter(policy_locator=policy_locator)
        async with self._db.read() as conn:
            return await schedule_store.list_schedules(
                conn, tenant_id=principal.tenant_id, flt=flt, offset=0, limit=10_000
            )

    async def failed_jobs(
        self,
        principal: Principal,
        *,
        state: str | None = None,
        policy_locator: str | None = None,
        offset: int = 0,
        count: int = 100,
    ) -> list[FailedJob]:
        """The tenant's failed schedule jobs, oldest schedule first: all, or those in one state
        (`queued`, `quit`) or of one policy."""
        require(principal, Permission.EVENTS_READ)
        if state is not None and state not in FAILED_JOB_STATES:
            raise InvalidInput.of(FieldProblem("state", "must be one of queued, quit"))
        flt = ScheduleFilter(
            policy_locator=policy_locator, failed_job_state=state, failed_only=True
        )
        async with self._db.read() as conn:
            rows = await schedule_store.list_schedules(
                conn, tenant_id=principal.tenant_id, flt=flt, offset=offset, limit=count
            )
        return [_failed_job(r) for r in rows]

    async def resume_failed(
        self,
        principal: Principal,
        *,
        name: str,
        group: str,
        permission: Permission = Permission.SCHEDULES_WRITE,
    ) -> None:
        """Resume a failed job (see the module docstring); NotFound when there is none."""
        require(principal, permission)
        now = self._clock.now_ns()
        async with self._changing() as conn:
            row = await _failed(conn, principal.tenant_id, name, group)
            await self._forgive(conn, row, principal, now)

    async def delete_failed(
        self,
        principal: Principal,
        *,
        name: str,
        group: str,
        permission: Permission = Permission.SCHEDULES_WRITE,
    ) -> None:
        """Drop a failed job: its failed tick is never retried, and the schedule carries on from
        its next tick after now (a paused one stays paused)."""
        require(principal, permission)
        now = self._clock.now_ns()
        async with self._changing() as conn:
            row = await _failed(conn, principal.tenant_id, name, group)
            await fire_store.delete_unrecorded_fires(conn, schedule_id=row.id)
            values: dict[str, object] = {**_CLEARED_JOB, "updated_at": now}
            if row.state != TriggerState.PAUSED.value:
                following = next_from_now(row, now=now)
                values.update(next_fire_at=following, state=_active_state(following))
            await self._set(conn, row, values)

    # -- helpers --------------------------------------------------------------------------------

    async def _forgive(
        self, conn: AsyncConnection, row: ScheduleRow, principal: Principal, now: int
    ) -> None:
        values = {
            **_CLEARED_JOB,
            "state": TriggerState.NORMAL.value,
            "next_fire_at": now,
            "resumed_by": principal.id or None,
            "resumed_at": now,
            "updated_at": now,
        }
        await self._set(conn, row, values)

    async def _set(
        self, conn: AsyncConnection, row: ScheduleRow, values: Mapping[str, object]
    ) -> None:
        await schedule_store.update_schedule(
            conn, tenant_id=row.tenant_id, schedule_id=row.id, values=values
        )

    async def _check_event(self, conn: AsyncConnection, row: ScheduleRow, now: int) -> None:
        """Refuse an event its trigger's payload schema would refuse at every fire."""
        if self._engine is None:
            return
        catalogue = await self._engine.catalogue(conn, row.tenant_id)
        sample = fire_event(row, fire_at=now, now=now)
        problems = catalogue.payload_problems(sample, None)
        _refuse([replace(p, field=f"event.{p.field}") for p in problems])


def _refuse(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidInput.of(*problems)


def _taken(spec: ScheduleSpec) -> Conflict:
    return Conflict(f"A schedule named '{spec.name}' exists in group '{spec.group}' already")


async def _existing(conn: AsyncConnection, tenant_id: int, schedule_id: int) -> ScheduleRow:
    row = await schedule_store.get_schedule(conn, tenant_id=tenant_id, schedule_id=schedule_id)
    if row is None:
        raise _not_found(schedule_id)
    return row


async def _failed(conn: AsyncConnection, tenant_id: int, name: str, group: str) -> ScheduleRow:
    row = await schedule_store.find_by_key(conn, tenant_id=tenant_id, name=name, group=group)
    if row is None or row.failed_job_state is None:
        raise NotFound(f"No failed job for trigger '{name}' in group '{group}'")
    return row
