"""Schedules under /api/v1/schedules: create, list, read, replace, delete, pause and resume.

Mapping only, in the native envelopes: `{"data": …}` (with a `message` on changes) and
`{"data": [...], "pagination": {page, per_page, total, total_pages}}` for the list. Reading needs
`events:read`, changing `schedules:write` (`services.schedules`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.schemas.schedules import ScheduleCreate, schedule_json
from tidings.domain.pagination import total_pages
from tidings.storage.schedules import ScheduleFilter, ScheduleRow

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"], route_class=JSONRoute)

ScheduleId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The schedule's id.")]
StateName = Literal["NORMAL", "PAUSED", "COMPLETE", "ERROR", "BLOCKED"]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No schedule with this id in the caller's tenant."}
}


def _response(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _saved(row: ScheduleRow, message: str, status: int = 200) -> Response:
    return _response(status, {"data": schedule_json(row), "message": message})


@router.get("", summary="List schedules")
async def list_schedules(
    services: ServicesDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    group: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    policy_locator: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    state: Annotated[StateName | None, Query(description="A Quartz trigger state.")] = None,
) -> Response:
    """The tenant's schedules, oldest first, optionally of one group, policy or state."""
    flt = ScheduleFilter(group=group, policy_locator=policy_locator, state=state)
    result = await services.schedules.list_schedules(
        principal, flt=flt, page=page, per_page=per_page
    )
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": result.total,
        "total_pages": total_pages(result.total, per_page),
    }
    data = [schedule_json(row) for row in result.items]
    return _response(200, {"data": data, "pagination": pagination})


@router.post(
    "",
    status_code=201,
    summary="Create a schedule",
    responses={409: {"description": "A schedule with this name exists in the group."}},
)
async def create_schedule(
    body: ScheduleCreate, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Save a schedule; it fires from its next tick (a one-shot time that passed: at once)."""
    spec = body.to_spec(max_depth=services.settings.max_payload_depth)
    row = await services.schedules.create_schedule(principal, spec=spec)
    return _saved(row, "Schedule created successfully", 201)


@router.get("/{schedule_id}", summary="Get a schedule", responses=_NOT_FOUND)
async def get_schedule(
    schedule_id: ScheduleId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """`{"data": schedule}` with its state, next and last fire and failed job."""
    row = await services.schedules.get_schedule(principal, schedule_id=schedule_id)
    return _response(200, {"data": schedule_json(row)})


@router.put("/{schedule_id}", summary="Replace a schedule", responses=_NOT_FOUND)
async def update_schedule(
    schedule_id: ScheduleId, body: ScheduleCreate, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """A whole new definition; the next fire is computed again from now."""
    spec = body.to_spec(max_depth=services.settings.max_payload_depth)
    row = await services.schedules.update_schedule(principal, schedule_id=schedule_id, spec=spec)
    return _saved(row, "Schedule updated successfully")


@router.delete("/{schedule_id}", summary="Delete a schedule", responses=_NOT_FOUND)
async def delete_schedule(
    schedule_id: ScheduleId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """`{"success": true, "message": …}`; the events it recorded stay."""
    await services.schedules.delete_schedule(principal, schedule_id=schedule_id)
    message = f"Schedule with ID {schedule_id} deleted successfully"
    return _response(200, {"success": True, "message": message})


@router.post(
    "/{schedule_id}/pause",
    summary="Pause a schedule",
    responses={**_NOT_FOUND, 409: {"description": "The schedule is complete."}},
)
async def pause_schedule(
    schedule_id: ScheduleId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """State PAUSED: no fire until resumed."""
    row = await services.schedules.pause(principal, schedule_id=schedule_id)
    return _saved(row, "Schedule paused")


@router.post(
    "/{schedule_id}/resume",
    summary="Resume a schedule",
    responses={**_NOT_FOUND, 409: {"description": "The schedule is complete."}},
)
async def resume_schedule(
    schedule_id: ScheduleId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """From PAUSED: fires from its next tick after now. From ERROR: its failed job is resumed."""
    row = await services.schedules.resume(principal, schedule_id=schedule_id)
    return _saved(row, "Schedule resumed")
