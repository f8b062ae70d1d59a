"""`tracker.event.v1alpha1.EventService`: Tracker's REST dialect over gRPC — mapping only.

Each method does what its `/api/v1alpha1` route does, in the same order (validate the body,
check the permission, call the same service) on the same `Services`, so an event created here is
the event REST reads back. Every method authenticates the `authorization` metadata
(`Bearer <API key or JWT>`) first, as the HTTP middleware does for every route, and gets a
request id as an HTTP request does; errors become status codes in `status`.

`idempotency-key` metadata on CreateEvent works as REST's `Idempotency-Key` header: a retry with
the same key and the same request returns the first answer and stores nothing twice. The key is
bound to the caller, the method and the serialized request, so reusing it for anything else,
including the same event over REST, is FAILED_PRECONDITION.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo

import grpc
import structlog
from google.protobuf.message import Message

from tidings.api.grpc import status
from tidings.api.grpc import tracker_messages as messages
from tidings.api.grpc.stubs import SERVICE_NAME, pb, pb_grpc
from tidings.api.schemas.tracker import parse_id, to_new_event, to_patch
from tidings.domain.access import Permission, Principal, require
from tidings.domain.errors import (
    FieldProblem,
    InvalidInput,
    NotFound,
    TidingsError,
    Unauthenticated,
)
from tidings.domain.events import Event, EventFilter
from tidings.domain.json import depth_exceeds
from tidings.domain.timestamps import day_bounds
from tidings.services.ingest import IdempotencyClaim
from tidings.services.runtime import Services

log = structlog.get_logger(__name__)

Response = TypeVar("Response")
Context = grpc.aio.ServicerContext[object, object]
IDEMPOTENCY_KEY = "idempotency-key"
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
_CREATE_METHOD = f"/{SERVICE_NAME}/CreateEvent"


@dataclass
class Call:
    """One RPC being answered: who asked, its request id, and the trailers to send back."""

    principal: Principal
    request_id: str
    metadata: dict[str, str]
    trailers: list[tuple[str, str]] = field(default_factory=list)


def bearer_credential(metadata: dict[str, str]) -> str:
    """The credential of `authorization: Bearer …`, or Unauthenticated."""
    scheme, _, token = metadata.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Missing bearer token")
    return token.strip()


def _event_id(text: str) -> int:
    """The core id a Tracker id names; a malformed one names no event (NOT_FOUND)."""
    event_id = parse_id(text)
    if event_id is None:
        raise NotFound(f"Event with ID {text} not found")
    return event_id


def _claim(call: Call, request: pb.CreateEventRequest) -> IdempotencyClaim | None:
    key = call.metadata.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if _KEY_PATTERN.fullmatch(key) is None:
        problem = FieldProblem(IDEMPOTENCY_KEY, "must be 1-255 printable ASCII characters")
        raise InvalidInput.of(problem, location="metadata")
    digest = hashlib.sha256(f"{call.principal.locator}\ngrpc\n{_CREATE_METHOD}\n".encode())
    digest.update(request.SerializeToString(deterministic=True))
    return IdempotencyClaim(key=key, fingerprint=digest.hexdigest())


def _render_created(stored: list[Event]) -> tuple[int, bytes]:
    """The create answer as the bytes the ingest keeps (and replays for an idempotent retry)."""
    (event,) = stored
    return 201, messages.created_message(event).SerializeToString()


class TrackerEventService(pb_grpc.EventServiceServicer):
    """The servicer; one per server, sharing the process's `Services` with HTTP."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def _run(
        self,
        context: Context,
        method: str,
        handler: Callable[[Call], Awaitable[Response]],
        request: Message,
    ) -> Response:
        """Authenticate, answer, and turn any failure into its status code."""
        request_id = uuid.uuid4().hex
        trailers: list[tuple[str, str]] = [(status.REQUEST_ID_KEY, request_id)]
        try:
            metadata = {
                key: value
                for key, value in context.invocation_metadata() or ()
                if isinstance(value, str)  # binary (-bin) entries carry nothing we read
            }
            principal = await self._services.auth.authenticate(bearer_credential(metadata))
            messages.refuse_nul(request)
            call = Call(principal, request_id, metadata, trailers)
            response = await handler(call)
        except TidingsError as error:
            if isinstance(error, InvalidInput):
                error = messages.in_proto_names(error)
            if status.code_of(error) is grpc.StatusCode.INTERNAL:
                log.error("grpc.failed", request_id=request_id, method=method, exc_info=error)
            await context.abort(
                status.code_of(error), error.message, (*trailers, *status.trailers_of(error))
            )
        except Exception as error:
            log.error("grpc.failed", request_id=request_id, method=method, exc_info=error)
            await context.abort(grpc.StatusCode.INTERNAL, status.INTERNAL_MESSAGE, tuple(trailers))
        context.set_trailing_metadata(tuple(trailers))
        return response

    async def CreateEvent(
        self, request: pb.CreateEventRequest, context: Context
    ) -> pb.CreateEventResponse:
        """POST /api/v1alpha1/event."""

        async def create(call: Call) -> pb.CreateEventResponse:
            body = messages.create_model(request)
            require(call.principal, Permission.EVENTS_WRITE)
            new = to_new_event(body)
            max_depth = self._services.settings.max_payload_depth
            if depth_exceeds(new.payload, max_depth):
                problem = FieldProblem("attributes", f"nests deeper than {max_depth} levels")
                raise InvalidInput.of(problem)
            outcome = await self._services.ingest.ingest(
                principal=call.principal,
                new_events=[new],
                request_id=call.request_id,
                render=_render_created,
                claim=_claim(call, request),
            )
            if outcome.replayed:
                call.trailers.append(("idempotent-replayed", "true"))
            return pb.CreateEventResponse.FromString(outcome.body)

        return await self._run(context, "CreateEvent", create, request)

    async def _full_event(self, principal: Principal, event_id: int) -> pb.Event:
        """An event with its revisions, as GET and PUT answer."""
        events = self._services.events
        event = await events.get(principal=principal, event_id=event_id)
        revisions = await events.revisions(principal=principal, event_ids=[event_id])
        return messages.event_message(event, revisions.get(event_id, []))

    async def GetEvent(self, request: pb.GetEventRequest, context: Context) -> pb.Event:
        """GET /api/v1alpha1/event/{id}: the event with its revisions."""

        async def get(call: Call) -> pb.Event:
            return await self._full_event(call.principal, _event_id(request.id))

        return await self._run(context, "GetEvent", get, request)

    async def UpdateEvent(self, request: pb.UpdateEventRequest, context: Context) -> pb.Event:
        """PUT /api/v1alpha1/event: change the fields sent; answers the event with revisions."""

        async def update(call: Call) -> pb.Event:
            body = messages.update_model(request)
            require(call.principal, Permission.EVENTS_WRITE)
            patch = to_patch(body)
            event_id = _event_id(body.id)
            await self._services.edits.update(
                principal=call.principal, event_id=event_id, patch=patch
            )
            return await self._full_event(call.principal, event_id)

        return await self._run(context, "UpdateEvent", update, request)

    async def DeleteEvent(
        self, request: pb.DeleteEventRequest, context: Context
    ) -> pb.DeleteEventResponse:
        """DELETE /api/v1alpha1/event/{id} (needs events:delete)."""

        async def delete(call: Call) -> pb.DeleteEventResponse:
            require(call.principal, Permission.EVENTS_DELETE)
            event_id = _event_id(request.id)
            await self._services.edits.delete(principal=call.principal, event_id=event_id)
            return pb.DeleteEventResponse(id=str(event_id))

        return await self._run(context, "DeleteEvent", delete, request)

    async def _page(
        self, call: Call, response: messages.Page, flt: EventFilter, per_page: int, page: int
    ) -> messages.Page:
        page, per_page = messages.page_params(per_page, page)
        result = await self._services.events.page(
            principal=call.principal, flt=flt, page=page, per_page=per_page
        )
        return messages.fill_page(response, result, page, per_page)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: Context
    ) -> pb.ListEventsResponse:
        """GET /api/v1alpha1/events/list: every event the caller may see, newest first."""

        async def list_events(call: Call) -> pb.ListEventsResponse:
            response = pb.ListEventsResponse()
            return await self._page(call, response, EventFilter(), request.per_page, request.page)

        return await self._run(context, "ListEvents", list_events, request)

    async def SearchEvents(
        self, request: pb.SearchEventsRequest, context: Context
    ) -> pb.SearchEventsResponse:
        """GET /api/v1alpha1/events/search: events matching every filter given."""

        async def search(call: Call) -> pb.SearchEventsResponse:
            flt = messages.search_filter(request)
            response = pb.SearchEventsResponse()
            return await self._page(call, response, flt, request.per_page, request.page)

        return await self._run(context, "SearchEvents", search, request)

    async def TodayEvents(
        self, request: pb.TodayEventsRequest, context: Context
    ) -> pb.TodayEventsResponse:
        """GET /api/v1alpha1/events/today: today in TIDINGS_TRACKER_TIME_ZONE."""

        async def today(call: Call) -> pb.TodayEventsResponse:
            zone = ZoneInfo(self._services.settings.tracker_time_zone)
            start, end = day_bounds(self._services.clock.now_ns(), zone)
            flt = EventFilter(start=start, end=end)
            response = pb.TodayEventsResponse()
            return await self._page(call, response, flt, request.per_page, request.page)

        return await self._run(context, "TodayEvents", today, request)
