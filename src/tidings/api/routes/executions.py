"""Executions on /api/v1/executions: list, get, cancel, retry.

The list answers as Attune's lists do (`{"data": [...], "pagination": {page, page_size,
total_items, total_pages, next_cursor}}`; 50 per page, at most 100), filtered by `enforcement`
(Attune's "Find Executions" step), `action_ref`, `status` and `start`/`end` on `created`.
Cancelling a queued execution ends it at once; a running one is stopped by its worker at its next
lease renewal (the answer shows it still running); a finished one is a 409. Retrying applies to
failed, timed-out and cancelled executions only (409 otherwise).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from tidings.api.attune_pages import check_list_query, list_body
from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.schemas.executions import detail_json, summary_json
from tidings.api.time_bounds import time_bound
from tidings.domain.automation import ExecutionStatus
from tidings.storage.execution_history import ExecutionFilter

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], route_class=JSONRoute)

MAX_ID = 2**63 - 1
_STATUSES = ", ".join(s.value for s in ExecutionStatus)
ExecutionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.get("", summary="List executions")
async def list_executions(
    services: ServicesDep,
    principal: PrincipalDep,
    enforcement: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Enforcement id")] = None,
    action_ref: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(max_length=16, description=_STATUSES)] = None,
    start: Annotated[
        str | None, Query(description="Earliest created, inclusive (RFC 3339 or YYYY-MM-DD)")
    ] = None,
    end: Annotated[
        str | None, Query(description="Latest created, inclusive (RFC 3339 or YYYY-MM-DD)")
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Keyset cursor from `next_cursor`")
    ] = None,
) -> Response:
    """Newest first. Page numbers give exact totals; a cursor pages deep at constant cost."""
    check_list_query(
        status=status, statuses=(s.value for s in ExecutionStatus), page=page, cursor=cursor
    )
    flt = ExecutionFilter(
        enforcement_id=enforcement,
        action_ref=action_ref,
        status=None if status is None else ExecutionStatus(status),
        created_from=time_bound("start", start, end=False),
        created_to=time_bound("end", end, end=True),
    )
    result = await services.executions.page(
        principal=principal, flt=flt, page=page, per_page=per_page, cursor=cursor
    )
    body = list_body(result, summary_json, page=page, per_page=per_page, cursor=cursor)
    return Response(body, media_type="application/json")


@router.get("/{execution_id}", summary="Get one execution with its attempts and result")
async def get_execution(
    execution_id: ExecutionId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """One execution, or 404 `{"error": "Execution with ID 9 not found", "status": 404}`."""
    detail = await services.executions.get(principal=principal, execution_id=execution_id)
    return _json({"data": detail_json(detail)})


@router.post("/{execution_id}/cancel", summary="Cancel an execution")
async def cancel_execution(
    execution_id: ExecutionId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Queued: cancelled now. Running: its worker stops it. Finished: 409."""
    detail = await services.executions.cancel(principal=principal, execution_id=execution_id)
    return _json({"data": detail_json(detail)})


@router.post("/{execution_id}/retry", summary="Run a failed execution again")
async def retry_execution(
    execution_id: ExecutionId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Failed, timed out or cancelled: queued again with a new attempt budget. Otherwise 409."""
    detail = await services.executions.retry(principal=principal, execution_id=execution_id)
    return _json({"data": detail_json(detail)})
