"""Failed jobs on /api/v1/failed-jobs: list, resume, dismiss — mapping only.

Every job has a `kind` (`execution`, `delivery` or `schedule`) and an `id` (the execution's or
the schedule's), its `failure_count` and `last_error`. Resume and dismiss take either `jobs`
(a list of `{kind, id}`) or a `filter` (`kind`, `subscription`, `action_ref`, `start`, `end`)
and answer how many jobs they acted on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.time_bounds import bound_problem, time_bound
from tidings.domain.automation import Execution
from tidings.domain.errors import InvalidInput
from tidings.domain.pagination import total_pages
from tidings.domain.timestamps import format_rfc3339
from tidings.services.failed_jobs import JobFilter, JobRef
from tidings.services.schedules import FailedJob

router = APIRouter(prefix="/api/v1/failed-jobs", tags=["failed jobs"], route_class=JSONRoute)

MAX_ID = 2**63 - 1
KindName = Literal["execution", "delivery", "schedule"]


class JobBody(BaseModel):
    """One failed job."""

    model_config = ConfigDict(extra="forbid")

    kind: KindName
    id: StrictInt = Field(ge=1, le=MAX_ID)


class FilterBody(BaseModel):
    """Which failed jobs (all given parts must hold)."""

    model_config = ConfigDict(extra="forbid")

    kind: KindName | None = None
    subscription: StrictInt | None = Field(default=None, ge=1, le=MAX_ID)
    action_ref: str | None = Field(default=None, max_length=255)
    start: str | None = Field(default=None, description="Created at or after (RFC 3339)")
    end: str | None = Field(default=None, description="Created at or before (RFC 3339)")

    def to_filter(self) -> JobFilter:
        """The service's filter."""
        return JobFilter(
            kind=self.kind,
            subscription_id=self.subscription,
            action_ref=self.action_ref,
            created_from=_body_bound("filter.start", self.start, end=False),
            created_to=_body_bound("filter.end", self.end, end=True),
        )


def _body_bound(name: str, text: str | None, *, end: bool) -> int | None:
    """A time bound given in the body, or a 400 naming it."""
    if text is None:
        return None
    value, problem = bound_problem(name, text, end=end)
    if problem is not None:
        raise InvalidInput.of(problem)
    return value


class SelectionBody(BaseModel):
    """The jobs to act on: named, or by filter."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobBody] | None = Field(default=None, max_length=10_000)
    filter: FilterBody | None = None

    def chosen(self) -> tuple[list[JobRef] | None, JobFilter | None]:
        """The service's arguments."""
        refs = None if self.jobs is None else [JobRef(j.kind, j.id) for j in self.jobs]
        return refs, None if self.filter is None else self.filter.to_filter()


def _ts(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)


def execution_job_json(item: Execution) -> dict[str, Any]:
    """A failed execution or delivery as a job."""
    return {
        "kind": "delivery" if item.subscription_id is not None else "execution",
        "id": item.id,
        "status": item.status.value,
        "failure_count": item.attempts,
        "last_error": item.error,
        "action_ref": item.action_ref,
        "event": item.event_id,
        "subscription": item.subscription_id,
        "created": format_rfc3339(item.created_at),
        "failed": _ts(item.finished_at),
    }


def schedule_job_json(job: FailedJob) -> dict[str, Any]:
    """A schedule's failed job (Quartz's states: queued will retry, quit gave up)."""
    return {
        "kind": "schedule",
        "id": job.schedule_id,
        "name": job.name,
        "group": job.group,
        "state": job.state,
        "failure_count": job.failure_count,
        "last_error": job.last_error,
        "created": format_rfc3339(job.created_at),
        "updated": format_rfc3339(job.updated_at),
    }


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("", summary="List failed jobs")
async def list_failed_jobs(
    services: ServicesDep,
    principal: PrincipalDep,
    kind: KindName | None = None,
    subscription: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action_ref: Annotated[str | None, Query(max_length=255)] = None,
    start: Annotated[str | None, Query(description="Created at or after (RFC 3339)")] = None,
    end: Annotated[str | None, Query(description="Created at or before (RFC 3339)")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """Executions and deliveries newest first, then schedules; exact totals."""
    flt = JobFilter(
        kind=kind,
        subscription_id=subscription,
        action_ref=action_ref,
        created_from=time_bound("start", start, end=False),
        created_to=time_bound("end", end, end=True),
    )
    found = await services.failed_jobs.page(
        principal, flt, offset=(page - 1) * per_page, limit=per_page
    )
    data = [execution_job_json(e) for e in found.executions]
    data += [schedule_job_json(s) for s in found.schedules]
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": found.total,
        "total_pages": total_pages(found.total, per_page),
    }
    return _json({"data": data, "pagination": pagination})


@router.post("/resume", summary="Resume failed jobs")
async def resume_failed_jobs(
    body: Annotated[SelectionBody, Body()], services: ServicesDep, principal: PrincipalDep
) -> Response:
    """`{"resumed": n}`: each runs again now."""
    jobs, flt = body.chosen()
    resumed = await services.failed_jobs.resume(principal, jobs=jobs, flt=flt)
    return _json({"resumed": resumed})


@router.delete("", summary="Dismiss failed jobs")
async def dismiss_failed_jobs(
    body: Annotated[SelectionBody, Body()], services: ServicesDep, principal: PrincipalDep
) -> Response:
    """`{"dismissed": n}`: they leave the list and are never retried."""
    jobs, flt = body.chosen()
    dismissed = await services.failed_jobs.dismiss(principal, jobs=jobs, flt=flt)
    return _json({"dismissed": dismissed})
