"""Socotra's scheduled policy events and failed scheduled events (`seeds/002_…txt`) on
`/event/{tenantLocator}/events/schedules` — mapping only, onto `services.schedules`.

A Socotra trigger is a schedule: `triggerName`/`triggerGroup` are its name and group, a scheduled
policy event is a schedule whose `policy_locator` is the policy's, and a failed scheduled event is
a schedule's failed job. Decisions where the document is silent:

- `transactionLocator` and `customEventId` are required strings: a schedule that has none shows
  `""`. `nextEventTime` is null when the schedule will not fire again (COMPLETE, ERROR).
- The void answers (resume, delete) are `204 No Content`, as Tidings' other void answers.
- `offset` (default 0) and `count` (default 100, at most 1,000) page the failed lists, oldest
  schedule first.
- Permissions are the document's security group: `events:read` to read, `events:write` to resume
  or delete a failed job.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.dialects.socotra import TenantLocator, check_tenant
from tidings.api.routing import JSONRoute
from tidings.domain.access import Permission
from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.timestamps import format_rfc3339
from tidings.services.schedules import FAILED_JOB_STATES, FailedJob
from tidings.storage.schedules import ScheduleRow

router = APIRouter(
    prefix="/event/{tenantLocator}/events/schedules", tags=["socotra"], route_class=JSONRoute
)

DEFAULT_COUNT = 100
MAX_COUNT = 1000
PolicyLocator = Annotated[
    str, Path(alias="policyLocator", max_length=255, description="The policy's locator.")
]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="Failed jobs to skip.")]
Count = Annotated[int, Query(ge=1, le=MAX_COUNT, description="Failed jobs to return.")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_NO_JOB: dict[int | str, dict[str, Any]] = {
    404: {"description": "No failed job for this trigger name and group."}
}


class FailedJobRequest(BaseModel):
    """Which failed job: the trigger's name and group."""

    model_config = ConfigDict(extra="forbid")

    triggerName: Key = Field(description="The schedule's name.")
    triggerGroup: Key = Field(description="The schedule's group.")


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def scheduled_policy_event(row: ScheduleRow) -> dict[str, Any]:
    """Socotra's `ScheduledPolicyEvent`."""
    return {
        "policyLocator": row.policy_locator or "",
        "transactionLocator": row.transaction_locator or "",
        "triggerState": row.state,
        "customEventId": row.custom_event_id or "",
        "nextEventTime": None if row.next_fire_at is None else format_rfc3339(row.next_fire_at),
    }


def failed_job_details(job: FailedJob) -> dict[str, Any]:
    """Socotra's `FailedJobDetails`."""
    return {
        "triggerName": job.name,
        "failedJobState": job.state,
        "failureCount": job.failure_count,
        "triggerGroup": job.group,
        "updatedAt": format_rfc3339(job.updated_at),
        "createdAt": format_rfc3339(job.created_at),
    }


def _jobs(jobs: list[FailedJob]) -> Response:
    return _json([failed_job_details(job) for job in jobs])


@router.get("/policy/{policyLocator}", summary="Fetch Scheduled Policy Events (Socotra)")
async def scheduled_policy_events(
    tenant_locator: TenantLocator,
    policy_locator: PolicyLocator,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Every schedule of the policy with its state and next fire; `[]` when it has none."""
    check_tenant(principal, tenant_locator)
    rows = await services.schedules.policy_schedules(principal, policy_locator=policy_locator)
    return _json([scheduled_policy_event(row) for row in rows])


@router.post(
    "/failed/resume",
    status_code=204,
    summary="Resume Failed Scheduled Event (Socotra)",
    responses=_NO_JOB,
)
async def resume_failed(
    tenant_locator: TenantLocator,
    body: FailedJobRequest,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Reset the failure count, clear the failed job, fire again from now (the failed tick at
    once), and record who resumed it."""
    check_tenant(principal, tenant_locator)
    await services.schedules.resume_failed(
        principal,
        name=body.triggerName,
        group=body.triggerGroup,
        permission=Permission.EVENTS_WRITE,
    )
    return Response(status_code=204)


@router.delete(
    "/failed", status_code=204, summary="Delete Failed Scheduled Event (Socotra)", responses=_NO_JOB
)
async def delete_failed(
    tenant_locator: TenantLocator,
    body: FailedJobRequest,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Drop the failed job: its failed tick is never retried; the schedule carries on."""
    check_tenant(principal, tenant_locator)
    await services.schedules.delete_failed(
        principal,
        name=body.triggerName,
        group=body.triggerGroup,
        permission=Permission.EVENTS_WRITE,
    )
    return Response(status_code=204)


@router.get("/tenant/failed/list", summary="Fetch Failed Scheduled Tenant Events (Socotra)")
async def tenant_failed(
    tenant_locator: TenantLocator,
    services: ServicesDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    count: Count = DEFAULT_COUNT,
) -> Response:
    """The tenant's failed jobs."""
    check_tenant(principal, tenant_locator)
    return _jobs(await services.schedules.failed_jobs(principal, offset=offset, count=count))


@router.get(
    "/policy/{policyLocator}/failed/list", summary="Fetch Failed Scheduled Policy Events (Socotra)"
)
async def policy_failed(
    tenant_locator: TenantLocator,
    policy_locator: PolicyLocator,
    services: ServicesDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    count: Count = DEFAULT_COUNT,
) -> Response:
    """The failed jobs of one policy's schedules."""
    check_tenant(principal, tenant_locator)
    jobs = await services.schedules.failed_jobs(
        principal, policy_locator=policy_locator, offset=offset, count=count
    )
    return _jobs(jobs)


@router.get(
    "/failed/{failedJobState}/list",
    summary="Fetch Failed Scheduled Events By Failed Job State (Socotra)",
    responses={400: {"description": "failedJobState is neither queued nor quit."}},
)
async def failed_in_state(
    tenant_locator: TenantLocator,
    failed_job_state: Annotated[
        str, Path(alias="failedJobState", max_length=64, description="queued or quit.")
    ],
    services: ServicesDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    count: Count = DEFAULT_COUNT,
) -> Response:
    """The failed jobs in one state: `queued` (will retry) or `quit` (gave up)."""
    check_tenant(principal, tenant_locator)
    if failed_job_state not in FAILED_JOB_STATES:
        problem = FieldProblem("failedJobState", "must be one of queued, quit")
        raise InvalidInput.of(problem, location="path parameters")
    jobs = await services.schedules.failed_jobs(
        principal, state=failed_job_state, offset=offset, count=count
    )
    return _jobs(jobs)


@router.get("/failed/list", summary="Fetch Failed Scheduled Events (Socotra)")
async def failed_list(
    tenant_locator: TenantLocator,
    services: ServicesDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    count: Count = DEFAULT_COUNT,
) -> Response:
    """Every failed job of the tenant (the same as the tenant list)."""
    check_tenant(principal, tenant_locator)
    return _jobs(await services.schedules.failed_jobs(principal, offset=offset, count=count))
