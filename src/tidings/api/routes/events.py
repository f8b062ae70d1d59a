"""Native ingest and Attune's event query API (`000_…txt`), on `/api/v1/events`."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from tidings.api.attune_pages import check_list_query, list_body
from tidings.api.dependencies import PrincipalDep, RequestIdDep, ServicesDep
from tidings.api.idempotency import IdempotencyKey, claim_of
from tidings.api.routing import JSONRoute
from tidings.api.schemas.events import (
    EventBatchCreate,
    EventCreate,
    event_json,
    summary_json,
    to_new_event,
)
from tidings.api.time_bounds import time_bound
from tidings.domain.access import Permission, require
from tidings.domain.errors import FieldProblem, InvalidInput
from tidings.domain.events import Event, EventFilter, NewEvent, materialize, summarize

router = APIRouter(prefix="/api/v1/events", tags=["events"], route_class=JSONRoute)

MAX_ID = 2**63 - 1


def _json(status: int, body: Any) -> tuple[int, bytes]:
    return status, orjson.dumps(body)


def _response(status: int, body: bytes, *, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _convert(bodies: list[EventCreate], max_depth: int, indexed: bool) -> list[NewEvent]:
    converted: list[NewEvent] = []
    problems: list[FieldProblem] = []
    for i, body in enumerate(bodies):
        new, found = to_new_event(body, max_depth=max_depth, index=i if indexed else None)
        problems.extend(found)
        if new is not None:
            converted.append(new)
    if problems:
        raise InvalidInput.of(*problems)
    return converted


@router.post(
    "",
    status_code=201,
    summary="Record one event",
    responses={201: {"description": 'The stored event, as `{"data": <event>}`.'}},
)
async def create_event(
    body: EventCreate,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store one event; answered only after its commit is durable."""
    require(principal, Permission.EVENTS_WRITE)
    new_events = _convert([body], services.settings.max_payload_depth, indexed=False)
    outcome = await services.ingest.ingest(
        principal=principal,
        new_events=new_events,
        request_id=request_id,
        render=lambda stored: _json(201, {"data": event_json(stored[0])}),
        claim=await claim_of(request, principal, idempotency_key),
    )
    return _response(outcome.status_code, outcome.body, replayed=outcome.replayed)


@router.post(
    "/batch",
    status_code=201,
    summary="Record up to 1,000 events, all or none",
    responses={
        201: {
            "description": "A receipt per stored event, in order: the summary the list view "
            'shows (id, trigger_ref, created, …), as `{"data": [...]}`.'
        }
    },
)
async def create_events(
    body: EventBatchCreate,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store a batch atomically; an invalid item fails the batch, naming each bad index."""
    require(principal, Permission.EVENTS_WRITE)
    limit = services.settings.max_batch_events
    if len(body.events) > limit:
        raise InvalidInput.of(
            FieldProblem("events", f"a batch holds at most {limit} events, got {len(body.events)}")
        )
    new_events = _convert(body.events, services.settings.max_payload_depth, indexed=True)
    outcome = await services.ingest.ingest(
        principal=principal,
        new_events=new_events,
        request_id=request_id,
        render=lambda stored: _json(201, {"data": [summary_json(summarize(e)) for e in stored]}),
        claim=await claim_of(request, principal, idempotency_key),
    )
    return _response(outcome.status_code, outcome.body, replayed=outcome.replayed)


@router.post("/validate", summary="Check an event without storing it")
async def validate_event(
    body: EventCreate, services: ServicesDep, principal: PrincipalDep, request_id: RequestIdDep
) -> Response:
    """Everything `POST /api/v1/events` does except storing: a dry run for producers."""
    require(principal, Permission.EVENTS_WRITE)
    new = _convert([body], services.settings.max_payload_depth, indexed=False)[0]
    preview: Event = materialize(
        new,
        event_id=0,
        tenant_id=principal.tenant_id,
        actor_id=principal.id,
        actor_locator=principal.locator,
        request_id=request_id,
        now=services.clock.now_ns(),
    )
    rendered = event_json(preview)
    rendered["id"] = None
    return _response(200, orjson.dumps({"data": rendered}))


@router.get("", summary="List events (Attune)")
async def list_events(
    services: ServicesDep,
    principal: PrincipalDep,
    trigger: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Trigger id")] = None,
    trigger_ref: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Source id")] = None,
    start: Annotated[
        str | None, Query(description="Earliest occurred_at, inclusive (RFC 3339 or YYYY-MM-DD)")
    ] = None,
    end: Annotated[
        str | None, Query(description="Latest occurred_at, inclusive (RFC 3339 or YYYY-MM-DD)")
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Keyset cursor from `next_cursor`")
    ] = None,
) -> Response:
    """Newest first. Page numbers give exact totals; a cursor pages deep at constant cost."""
    flt = EventFilter(
        type=trigger_ref,
        trigger_id=trigger,
        source_id=source,
        start=time_bound("start", start, end=False),
        end=time_bound("end", end, end=True),
    )
    check_list_query(status=None, statuses=(), page=page, cursor=cursor)
    result = await services.events.summaries(
        principal=principal, flt=flt, page=page, per_page=per_page, cursor=cursor
    )
    body = list_body(result, summary_json, page=page, per_page=per_page, cursor=cursor)
    return _response(200, body)


@router.get("/{event_id}", summary="Get one event (Attune)")
async def get_event(
    event_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """One event, or 404 `{"error": "Event with ID 999 not found", "status": 404}`."""
    event = await services.events.get(principal=principal, event_id=event_id)
    return _response(200, orjson.dumps({"data": event_json(event)}))
