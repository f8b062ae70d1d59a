"""Failed jobs: everything that exhausted its retries, in one list an operator can work through —
deliveries and action executions that failed or timed out, and schedules whose fire failed
(DESIGN.md, "The flow", 2). Resuming one runs it again now: an execution or delivery gets one
more attempt (and its retries, if its policy has them left), a schedule's failed tick is fired
again and its failure count reset (`services/schedules.py`). Dismissing one drops it from the
list for good: an execution ends `cancelled` with who dismissed it and the failure it had; a
schedule's failed tick is forgotten and the schedule carries on.

Each kind keeps its own permission: `executions:write` for executions, `subscriptions:write`
for deliveries, `schedules:write` for schedules. A filter acts on at most MAX_BATCH jobs a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tidings.domain.access import Permission, Principal, require, visibility_of
from tidings.domain.automation import Execution
from tidings.domain.clock import Clock
from tidings.domain.errors import Conflict, FieldProblem, InvalidInput, NotFound
from tidings.services.database import Database
from tidings.services.executions import ExecutionAdmin
from tidings.services.schedules import FailedJob, ScheduleAdmin
from tidings.storage import execution_history as history_store
from tidings.storage.execution_history import ExecutionFilter

Kind = Literal["execution", "delivery", "schedule"]
KINDS: tuple[Kind, ...] = ("execution", "delivery", "schedule")
MAX_BATCH = 10_000
_WRITE = {
    "execution": Permission.EXECUTIONS_WRITE,
    "delivery": Permission.SUBSCRIPTIONS_WRITE,
    "schedule": Permission.SCHEDULES_WRITE,
}


@dataclass(frozen=True)
class JobFilter:
    """Which failed jobs: of one kind (all kinds when None), one subscription's, one action's,
    created within a window (executions and deliveries; schedules have no window)."""

    kind: Kind | None = None
    subscription_id: int | None = None
    action_ref: str | None = None
    created_from: int | None = None
    created_to: int | None = None

    def executions(self) -> ExecutionFilter | None:
        """The executions part of the filter (None when it asks for schedules only)."""
        if self.kind == "schedule":
            return None
        return ExecutionFilter(
            action_ref=self.action_ref,
            created_from=self.created_from,
            created_to=self.created_to,
            subscription_id=self.subscription_id,
            deliveries_only=self.kind == "delivery",
            actions_only=self.kind == "execution",
            failed_only=True,
        )

    @property
    def takes_schedules(self) -> bool:
        """Whether schedules can match (no execution-only criterion is set)."""
        narrowed = (self.subscription_id, self.action_ref, self.created_from, self.created_to)
        return self.kind in (None, "schedule") and all(c is None for c in narrowed)


@dataclass(frozen=True)
class JobRef:
    """One failed job by kind and id."""

    kind: Kind
    id: int


@dataclass(frozen=True)
class JobPage:
    """A page of failed jobs (executions and deliveries newest first, then schedules)."""

    executions: list[Execution]
    schedules: list[FailedJob]
    total: int


class FailedJobs:
    """Lists, resumes and dismisses failed jobs of every kind."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        executions: ExecutionAdmin,
        schedules: ScheduleAdmin,
    ) -> None:
        self._db = db
        self._clock = clock
        self._executions = executions
        self._schedules = schedules

    async def page(
        self, principal: Principal, flt: JobFilter, *, offset: int, limit: int
    ) -> JobPage:
        """`limit` jobs from `offset`, and how many match in all."""
        require(principal, Permission.AUTOMATION_READ)
        visibility = visibility_of(principal)
        tenant_id = principal.tenant_id
        executions: list[Execution] = []
        counted = 0
        wanted = flt.executions()
        if wanted is not None:
            async with self._db.read() as conn:
                counted = await history_store.count_executions(
                    conn, tenant_id=tenant_id, flt=wanted, visibility=visibility
                )
                if offset < counted:
                    executions = await history_store.list_executions(
                        conn,
                        tenant_id=tenant_id,
                        flt=wanted,
                        visibility=visibility,
                        limit=limit,
                        offset=offset,
                    )
        schedules: list[FailedJob] = []
        total = counted
        if flt.takes_schedules:
            everything = await self._schedules.failed_jobs(principal, offset=0, count=MAX_BATCH)
            total += len(everything)
            start = max(0, offset - counted)
            schedules = everything[start : start + limit - len(executions)]
        return JobPage(executions, schedules, total)

    async def resume(
        self, principal: Principal, *, jobs: list[JobRef] | None, flt: JobFilter | None
    ) -> int:
        """Run the named jobs (or every job the filter matches) again; how many were resumed."""
        refs = await self._chosen(principal, jobs, flt)
        names = await self._checked(principal, refs)
        for ref in refs:
            if ref.kind == "schedule":
                name, group = names[ref.id]
                await self._schedules.resume_failed(principal, name=name, group=group)
                continue
            await self._executions.retry(
                principal=principal, execution_id=ref.id, permission=_WRITE[ref.kind]
            )
        return len(refs)

    async def dismiss(
        self, principal: Principal, *, jobs: list[JobRef] | None, flt: JobFilter | None
    ) -> int:
        """Drop the named jobs (or every job the filter matches) from the list; how many."""
        refs = await self._chosen(principal, jobs, flt)
        names = await self._checked(principal, refs)
        execution_ids: list[int] = []
        for ref in refs:
            if ref.kind == "schedule":
                name, group = names[ref.id]
                await self._schedules.delete_failed(principal, name=name, group=group)
            else:
                execution_ids.append(ref.id)
        reason = f"dismissed from the failed jobs by {principal.name}"
        now = self._clock.now_ns()
        tenant_id = principal.tenant_id
        await self._db.write(
            lambda conn: history_store.dismiss_failed(
                conn, tenant_id=tenant_id, ids=execution_ids, reason=reason, now=now
            )
        )
        return len(refs)

    async def _chosen(
        self, principal: Principal, jobs: list[JobRef] | None, flt: JobFilter | None
    ) -> list[JobRef]:
        if (jobs is None) == (flt is None):
            problem = FieldProblem("jobs", "name the jobs, or give a filter (not both)")
            raise InvalidInput.of(problem)
        if jobs is not None:
            return jobs
        assert flt is not None
        found = await self.page(principal, flt, offset=0, limit=MAX_BATCH)
        refs = [
            JobRef("delivery" if e.subscription_id is not None else "execution", e.id)
            for e in found.executions
        ]
        refs += [JobRef("schedule", s.schedule_id) for s in found.schedules]
        return refs

    async def _checked(
        self, principal: Principal, refs: list[JobRef]
    ) -> dict[int, tuple[str, str]]:
        """Check every job before acting on any (permission, kind, failed); the schedules'
        names and groups by id."""
        names: dict[int, tuple[str, str]] = {}
        for ref in refs:
            require(principal, _WRITE[ref.kind])
            if ref.kind == "schedule":
                row = await self._schedules.get_schedule(principal, schedule_id=ref.id)
                if row.failed_job_state is None:
                    raise Conflict(f"Schedule with ID {ref.id} has no failed job")
                names[ref.id] = (row.name, row.group_name)
            else:
                await self._check_kind(principal, ref)
        return names

    async def _check_kind(self, principal: Principal, ref: JobRef) -> None:
        """404 for an id that is not a failed job of the kind named."""
        detail = await self._executions.get(principal=principal, execution_id=ref.id)
        execution = detail.execution
        is_delivery = execution.subscription_id is not None
        if is_delivery != (ref.kind == "delivery"):
            raise NotFound(f"Failed {ref.kind} with ID {ref.id} not found")
        if execution.status.value not in ("failed", "timed_out"):
            raise Conflict(
                f"{ref.kind.capitalize()} with ID {ref.id} is {execution.status.value}, "
                "not a failed job"
            )
