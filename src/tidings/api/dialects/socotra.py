"""Socotra's event stream (`seeds/002_…txt`) on `/event/{tenantLocator}/events` — mapping only.

Fetch one event, the events of one API request, and follow the stream with a paging token. The
stream itself (commit order, the signed token that carries the filters, the commit-safe horizon on
PostgreSQL) lives in `services.event_stream`; this module parses Socotra's shapes and renders
`EventResponse` / `EventStreamResponse`. The schedule and failed-job endpoints of the same
document are in `socotra_schedules.py`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.time_bounds import time_bound
from tidings.domain.access import Principal
from tidings.domain.errors import FieldProblem, InvalidInput, NotFound
from tidings.domain.events import Event
from tidings.domain.timestamps import format_rfc3339
from tidings.services.event_stream import StreamFilters

router = APIRouter(prefix="/event/{tenantLocator}/events", tags=["socotra"], route_class=JSONRoute)

MAX_ID = 2**63 - 1
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# A locator is the event id written the one way `str(id)` writes it: "007" or "+7" name nothing.
_LOCATOR = re.compile(r"[1-9][0-9]{0,18}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_QUERY = "query parameters"

TenantLocator = Annotated[
    str, Path(alias="tenantLocator", description="The caller's tenant (a UUID).")
]
Locator = Annotated[str, Path(description="The event's locator (its id, as a string).")]
RequestLocator = Annotated[
    str, Path(description="The API request id (the `X-Request-Id` of the recording request).")
]


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def check_tenant(principal: Principal, tenant_locator: str) -> None:
    """A malformed locator is the caller's mistake (400); another tenant's is not found (404).

    The 404 says nothing about whether the other tenant exists: a caller only ever reaches its own.
    """
    if not _UUID.fullmatch(tenant_locator):
        raise InvalidInput.of(
            FieldProblem("tenantLocator", "must be a UUID (8-4-4-4-12 hexadecimal digits)"),
            location="path parameters",
        )
    if tenant_locator.lower() != principal.tenant_locator.lower():
        raise NotFound(f"Tenant {tenant_locator} not found")


def event_response(event: Event) -> dict[str, Any]:
    """Socotra's `EventResponse`: stream time is the time the recording call completed."""
    return {
        "locator": str(event.id),
        "userLocator": event.actor_locator,
        "requestId": event.request_id,
        "timestamp": format_rfc3339(event.recorded_at),
        "type": event.type,
        "data": event.payload,
    }


def _filters(
    event_type: str | None, start_text: str | None, end_text: str | None
) -> StreamFilters | None:
    """The filters of the first call, or None when the call names none (the token's then win)."""
    start = time_bound("startTimestamp", start_text, end=False)
    end = time_bound("endTimestamp", end_text, end=True)
    if start is not None and end is not None and start > end:
        raise InvalidInput.of(
            FieldProblem("startTimestamp", "must not be later than endTimestamp"), location=_QUERY
        )
    if event_type is None and start is None and end is None:
        return None
    return StreamFilters(type=event_type, start=start, end=end)


# `list` and `request/…` are declared before `{locator}`, which would otherwise match them.
@router.get("/list", summary="Fetch Multiple Events (Socotra's event stream)")
async def list_events(
    tenant_locator: TenantLocator,
    services: ServicesDep,
    principal: PrincipalDep,
    start_timestamp: Annotated[
        str | None,
        Query(
            alias="startTimestamp",
            max_length=64,
            description="Earliest stream time, inclusive (RFC 3339, or a date: its midnight UTC).",
        ),
    ] = None,
    end_timestamp: Annotated[
        str | None,
        Query(
            alias="endTimestamp",
            max_length=64,
            description="Latest stream time, inclusive (RFC 3339, or a date: its last instant).",
        ),
    ] = None,
    event_type: Annotated[
        str | None, Query(alias="type", min_length=1, max_length=200, description="Event type.")
    ] = None,
    page_size: Annotated[
        int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE, description="Events per page.")
    ] = DEFAULT_PAGE_SIZE,
    paging_token: Annotated[
        str | None,
        Query(
            alias="pagingToken",
            min_length=1,
            max_length=2048,
            description="The token of the previous page; it carries the first call's filters.",
        ),
    ] = None,
) -> Response:
    """Events in stream order after the token, and the token to poll next (always present)."""
    check_tenant(principal, tenant_locator)
    page = await services.stream.read(
        principal=principal,
        filters=_filters(event_type, start_timestamp, end_timestamp),
        token=paging_token,
        page_size=page_size,
    )
    return _json({"pagingToken": page.token, "events": [event_response(e) for e in page.events]})


@router.get("/request/{locator}", summary="Fetch Events for an API Request (Socotra)")
async def events_of_request(
    tenant_locator: TenantLocator,
    locator: RequestLocator,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Every event the request recorded that the caller may see, in order; `[]` if none."""
    check_tenant(principal, tenant_locator)
    found = await services.events.of_request(principal=principal, request_id=locator)
    return _json([event_response(e) for e in found])


@router.get("/{locator}", summary="Fetch an Event (Socotra)")
async def get_event(
    tenant_locator: TenantLocator,
    locator: Locator,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """One event, or 404 for a locator that names no event the caller may see."""
    check_tenant(principal, tenant_locator)
    if not _LOCATOR.fullmatch(locator) or int(locator) > MAX_ID:
        raise NotFound(f"Event with ID {locator} not found")
    event = await services.events.get(principal=principal, event_id=int(locator))
    return _json(event_response(event))
