"""Tracker's REST dialect (`seeds/003_…txt`) on `/api/v1alpha1` — mapping only.

Create, update (recorded as revisions), get, delete, and three paginated reads (list, search,
today). The shapes and the code tables live in `api.schemas.tracker` / `tracker_views`, shared
with the gRPC service; the stores, visibility and revisions live in the services. The document
shows no envelope for the paginated reads, so they answer
`{"events": [...], "page", "per_page", "total", "total_pages"}`.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, RequestIdDep, ServicesDep
from tidings.api.idempotency import IdempotencyKey, claim_of
from tidings.api.routing import JSONRoute
from tidings.api.schemas.tracker import (
    DEFAULT_PER_PAGE,
    MAX_PAGE,
    MAX_PER_PAGE,
    TrackerEventCreate,
    TrackerEventUpdate,
    parse_id,
    search_filter,
    to_new_event,
    to_patch,
)
from tidings.api.schemas.tracker_views import created_json, event_json
from tidings.domain.access import Permission, Principal, require
from tidings.domain.errors import FieldProblem, InvalidInput, NotFound
from tidings.domain.events import EventFilter
from tidings.domain.json import depth_exceeds
from tidings.domain.pagination import total_pages
from tidings.domain.timestamps import day_bounds
from tidings.services.runtime import Services

router = APIRouter(prefix="/api/v1alpha1", tags=["tracker"], route_class=JSONRoute)

_QUERY = "query parameters"

EventId = Annotated[str, Path(max_length=64, description="The event's id (a string).")]
PerPage = Annotated[
    int, Query(ge=1, le=MAX_PER_PAGE, description="Events per page (1-100, default 10).")
]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
# Codes are checked against the tables by hand, so a wrong one names the allowed values.
CodeQuery = Annotated[int | None, Query(description="A code of Tracker's table (see docs).")]
DateQuery = Annotated[
    str | None,
    Query(max_length=64, description="ISO 8601 date (YYYY-MM-DD) or RFC 3339 date-time."),
]


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _not_found(text: str) -> NotFound:
    return NotFound(f"Event with ID {text} not found")


def _event_id(text: str) -> int:
    """The core id a Tracker id names; a malformed one names no event (404, not 400)."""
    event_id = parse_id(text)
    if event_id is None:
        raise _not_found(text)
    return event_id


async def _full_event(services: Services, principal: Principal, event_id: int) -> dict[str, Any]:
    """An event with its revisions, as GET and PUT answer."""
    event = await services.events.get(principal=principal, event_id=event_id)
    revisions = await services.events.revisions(principal=principal, event_ids=[event_id])
    return event_json(event, revisions.get(event_id, []))


async def _page(
    services: Services, principal: Principal, flt: EventFilter, page: int, per_page: int
) -> Response:
    """One page of whole events, newest first, in the envelope every Tracker list shares."""
    result = await services.events.page(principal=principal, flt=flt, page=page, per_page=per_page)
    total = result.total if result.total is not None else 0
    body = {
        "events": [event_json(e) for e in result.items],
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": total_pages(total, per_page),
    }
    return _json(200, body)


@router.post(
    "/event",
    status_code=201,
    summary="Create Event (Tracker)",
    responses={201: {"description": "`{id, title, createdAt}`; the id is a string."}},
)
async def create_event(
    body: TrackerEventCreate,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store one event; `title`, `attributes.type` and `attributes.service` are required."""
    require(principal, Permission.EVENTS_WRITE)
    new = to_new_event(body)
    max_depth = services.settings.max_payload_depth
    if depth_exceeds(new.payload, max_depth):
        raise InvalidInput.of(FieldProblem("attributes", f"nests deeper than {max_depth} levels"))
    outcome = await services.ingest.ingest(
        principal=principal,
        new_events=[new],
        request_id=request_id,
        render=lambda stored: (201, orjson.dumps(created_json(stored[0]))),
        claim=await claim_of(request, principal, idempotency_key),
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(
        outcome.body,
        status_code=outcome.status_code,
        media_type="application/json",
        headers=headers,
    )


@router.put("/event", summary="Update Event (Tracker)")
async def update_event(
    body: TrackerEventUpdate, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Change the fields the body names; each change is recorded as a revision.

    Answers the whole event with its revisions. A body that changes nothing records nothing.
    """
    require(principal, Permission.EVENTS_WRITE)
    patch = to_patch(body)
    event_id = _event_id(body.id)
    await services.edits.update(principal=principal, event_id=event_id, patch=patch)
    return _json(200, await _full_event(services, principal, event_id))


@router.get("/event/{event_id}", summary="Get Event by ID (Tracker)")
async def get_event(event_id: EventId, services: ServicesDep, principal: PrincipalDep) -> Response:
    """The event with its revisions, or 404 for an id naming no event the caller may see."""
    return _json(200, await _full_event(services, principal, _event_id(event_id)))


@router.delete("/event/{event_id}", status_code=204, summary="Delete Event (Tracker)")
async def delete_event(
    event_id: EventId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Remove the event (needs `events:delete`); a final revision keeps it for the audit trail."""
    require(principal, Permission.EVENTS_DELETE)
    await services.edits.delete(principal=principal, event_id=_event_id(event_id))
    return Response(status_code=204)


@router.get("/events/list", summary="List Events (Tracker)")
async def list_events(
    services: ServicesDep,
    principal: PrincipalDep,
    per_page: PerPage = DEFAULT_PER_PAGE,
    page: PageNumber = 1,
) -> Response:
    """Every event the caller may see, newest first, a page at a time."""
    return await _page(services, principal, EventFilter(), page, per_page)


@router.get("/events/search", summary="Search Events (Tracker)")
async def search_events(
    services: ServicesDep,
    principal: PrincipalDep,
    priority: CodeQuery = None,
    service: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    event_type: Annotated[
        int | None, Query(alias="type", description="Event type code (1-5).")
    ] = None,
    environment: CodeQuery = None,
    status: CodeQuery = None,
    start_date: DateQuery = None,
    end_date: DateQuery = None,
    per_page: PerPage = DEFAULT_PER_PAGE,
    page: PageNumber = 1,
) -> Response:
    """Events matching every given filter, newest first; a date `end_date` includes its day."""
    flt = search_filter(
        priority=priority,
        service=service,
        event_type=event_type,
        environment=environment,
        status=status,
        start_date=start_date,
        end_date=end_date,
    )
    return await _page(services, principal, flt, page, per_page)


@router.get("/events/today", summary="Today's Events (Tracker)")
async def todays_events(
    services: ServicesDep,
    principal: PrincipalDep,
    per_page: PerPage = DEFAULT_PER_PAGE,
    page: PageNumber = 1,
) -> Response:
    """Events that occurred during today's calendar day in `TIDINGS_TRACKER_TIME_ZONE`."""
    zone = ZoneInfo(services.settings.tracker_time_zone)
    start, end = day_bounds(services.clock.now_ns(), zone)
    return await _page(services, principal, EventFilter(start=start, end=end), page, per_page)
