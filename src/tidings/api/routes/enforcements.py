"""Attune's enforcement query API (000_…txt) on /api/v1/enforcements.

As the document shows it: `{"data": [...], "pagination": {page, page_size, total_items,
total_pages}}`, 50 per page by default and at most 100, errors as `{"error", "status"}`. Tidings
adds the time range (`start`/`end` on `created`, the document's first "future enhancement") and a
keyset `cursor` for deep paging, as on the events list.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from tidings.api.attune_pages import check_list_query, list_body
from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.time_bounds import time_bound
from tidings.domain.automation import Enforcement, EnforcementStatus
from tidings.domain.timestamps import format_rfc3339
from tidings.storage.enforcements import EnforcementDetail, EnforcementFilter

router = APIRouter(prefix="/api/v1/enforcements", tags=["enforcements"], route_class=JSONRoute)

MAX_ID = 2**63 - 1
_STATUSES = ", ".join(s.value for s in EnforcementStatus)


def summary_json(item: Enforcement) -> dict[str, Any]:
    """The list view of 000_…txt."""
    return {
        "id": item.id,
        "rule": item.rule_id,
        "rule_ref": item.rule_ref,
        "trigger_ref": item.trigger_ref,
        "event": item.event_id,
        "status": item.status.value,
        "condition": item.condition.value,
        "created": format_rfc3339(item.created_at),
    }


def detail_json(detail: EnforcementDetail) -> dict[str, Any]:
    """The full view of 000_…txt, plus the id of the execution it scheduled."""
    item = detail.enforcement
    return {
        "id": item.id,
        "rule": item.rule_id,
        "rule_ref": item.rule_ref,
        "trigger_ref": item.trigger_ref,
        "config": detail.parameters,
        "event": item.event_id,
        "status": item.status.value,
        "payload": detail.payload,
        "condition": item.condition.value,
        "conditions": item.conditions,
        "execution": detail.execution_id,
        "created": format_rfc3339(item.created_at),
        "updated": format_rfc3339(item.updated_at),
    }


@router.get("", summary="List enforcements (Attune)")
async def list_enforcements(
    services: ServicesDep,
    principal: PrincipalDep,
    rule: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Rule id")] = None,
    event: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Event id")] = None,
    status: Annotated[str | None, Query(max_length=16, description=_STATUSES)] = None,
    trigger_ref: Annotated[str | None, Query(max_length=255)] = None,
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
    """Newest first, filtered by rule, event, status and trigger."""
    check_list_query(
        status=status, statuses=(s.value for s in EnforcementStatus), page=page, cursor=cursor
    )
    flt = EnforcementFilter(
        rule_id=rule,
        event_id=event,
        status=status,
        trigger_ref=trigger_ref,
        start=time_bound("start", start, end=False),
        end=time_bound("end", end, end=True),
    )
    result = await services.enforcements.page(
        principal=principal, flt=flt, page=page, per_page=per_page, cursor=cursor
    )
    body = list_body(result, summary_json, page=page, per_page=per_page, cursor=cursor)
    return Response(body, media_type="application/json")


@router.get("/{enforcement_id}", summary="Get one enforcement (Attune)")
async def get_enforcement(
    enforcement_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """One enforcement, or 404 `{"error": "Enforcement with ID 9 not found", "status": 404}`."""
    detail = await services.enforcements.get(principal=principal, enforcement_id=enforcement_id)
    return Response(orjson.dumps({"data": detail_json(detail)}), media_type="application/json")
