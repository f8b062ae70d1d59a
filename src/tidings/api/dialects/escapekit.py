"""EscapeKit's event service (`seeds/004_…txt`): the audit-trail queries and `create-event`.

Mapping only. The scope fields (`inventory_*`, `state_*`) are dimensions of the core event,
`timestamp` is its `occurred_at` in Unix nanoseconds, `data` its payload; visibility by
`allowed_groups`/`allowed_roles` is applied by the services on every read. The document's
subscription endpoints are in `escapekit_subscriptions.py`.

Every path is served in both trailing-slash forms without a redirect: an HTTP client that does
not follow redirects (httpx's default) would otherwise see a 307 instead of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import WithJsonSchema
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, RequestIdDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.domain.access import Permission, Principal, PrincipalKind, require
from tidings.domain.errors import FieldProblem, Forbidden, InvalidInput
from tidings.domain.event_documents import ESCAPEKIT_SCOPES
from tidings.domain.event_documents import escapekit_event_json as event_json
from tidings.domain.events import (
    GROUP_PATTERN,
    TYPE_PATTERN,
    TYPE_RULE,
    EventFilter,
    EventLimits,
    NewEvent,
)
from tidings.domain.json import JSONObject, depth_exceeds
from tidings.domain.timestamps import MAX_NS, TimestampError, check_range
from tidings.services.runtime import Services

router = APIRouter(route_class=JSONRoute, tags=["escapekit"])

QUERY = "/api/v1/events/query"
CREATE_PATH = "/internal/create-event"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
LIMITS = EventLimits()

SCOPES = ESCAPEKIT_SCOPES
# The document's enum. It lists UPDATE_INVENTORY_PROJECT_USER_ACL twice and no
# UPDATE_INVENTORY_PROJECT_TEAM_ACL, which the State block's symmetry implies: we read the
# duplicate as that name. The list is documentation only: any type matching TYPE_PATTERN is stored.
EVENT_TYPES: tuple[str, ...] = tuple(
    """
    CREATE_INVENTORY_PROJECT NEW_INVENTORY_APPLICATION UPLOAD_INVENTORY_APPLICATION
    UPDATE_INVENTORY_PROJECT_USER_ACL DELETE_INVENTORY_PROJECT_USER_ACL
    UPDATE_INVENTORY_PROJECT_TEAM_ACL DELETE_INVENTORY_PROJECT_TEAM_ACL CREATE_STATE_PROJECT
    CREATE_STATE_ENVIRONMENT CREATE_STATE_DEPLOYMENT UPDATE_STATE_DEPLOYMENT
    REDEPLOY_STATE_DEPLOYMENT RERUN_SMOKE_TESTS DESTROY_REQUESTED ADD_BUILD
    TRIGGER_BUILD_WEBHOOK BUILD_FINISHED_EVENT UPDATE_STATE_PROJECT_USER_ACL
    DELETE_STATE_PROJECT_USER_ACL UPDATE_STATE_PROJECT_TEAM_ACL DELETE_STATE_PROJECT_TEAM_ACL
    USER_SIGNUP USER_CONFIRMED TEAM_CREATED TEAM_DELETED TEAM_MEMBER_UPDATED TEAM_MEMBER_DELETED
    TEAM_SERVICE_ACCOUNT_CREATED
    """.split()  # noqa: SIM905 (a word list reads better than 28 quoted lines)
)
# A numeric string: at most 20 digits, so int() never meets Python's digit limit; the range
# check then refuses anything past int64.
_NUMERIC = re.compile(r"^-?[0-9]{1,20}$")
_TIMESTAMP_RULE = "must be Unix time in nanoseconds: an integer, or a string of digits"

Scope = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.max_dimension_chars)]
Name = Annotated[str, StringConstraints(pattern=GROUP_PATTERN.pattern)]
Names = Annotated[list[Name] | None, Field(default=None, max_length=LIMITS.max_list_items)]
Timestamp = Annotated[
    int | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]{1,19}$"},
            ],
            # No `maximum`: OpenAPI's model turns it into a float, which rounds 2**63 - 1 up.
            "description": "Unix time in nanoseconds (a number, or a string of digits), "
            f"0 to {MAX_NS}. Defaults to now.",
        }
    ),
]


class EscapeKitEventCreate(BaseModel):
    """The document's Event, as a producer sends it. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    id: Any = Field(default=None, description="Assigned by the server: leave it out.")
    type: str = Field(
        description=f"The event type ({TYPE_RULE}); the document's enum: " + ", ".join(EVENT_TYPES),
        examples=["CREATE_INVENTORY_PROJECT"],
    )
    timestamp: Timestamp = None
    username: Scope | None = None
    allowed_groups: Names = None
    allowed_roles: Names = None
    data: dict[str, Any] | None = None
    inventory_project: Scope | None = None
    inventory_application: Scope | None = None
    inventory_version: Scope | None = None
    inventory_namespace: Scope | None = None
    state_project: Scope | None = None
    state_environment: Scope | None = None
    state_deployment: Scope | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _no_id(cls, value: object) -> None:
        raise ValueError("is assigned by the server; leave it out")

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not TYPE_PATTERN.match(value):
            raise ValueError(f"must be {TYPE_RULE}")
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, str) and _NUMERIC.match(value):
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise ValueError(_TIMESTAMP_RULE)
        try:
            return check_range(number, value)
        except TimestampError as exc:
            raise ValueError(str(exc)) from None


def to_new_event(body: EscapeKitEventCreate, *, max_depth: int) -> NewEvent:
    """The core event for an EscapeKit body; the scope fields become dimensions."""
    payload: JSONObject = body.data or {}
    if depth_exceeds(payload, max_depth):
        raise InvalidInput.of(FieldProblem("data", f"nests deeper than {max_depth} levels"))
    dimensions: dict[str, str | int] = {
        name: value for name in SCOPES if (value := getattr(body, name)) is not None
    }
    return NewEvent(
        type=body.type,
        payload=payload,
        dimensions=dimensions,
        allowed_groups=tuple(dict.fromkeys(body.allowed_groups or ())),
        allowed_roles=tuple(dict.fromkeys(body.allowed_roles or ())),
        username=body.username,
        occurred_at=body.timestamp,
    )


Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


def serve(
    method: str, path: str, summary: str, status_code: int = 200, *, on: APIRouter = router
) -> Callable[[Endpoint], Endpoint]:
    """Register `path` (on `on`) as the document writes it, and its other trailing-slash form
    unlisted."""
    other = path.removesuffix("/") if path.endswith("/") else path + "/"

    def register(endpoint: Endpoint) -> Endpoint:
        for where, listed in ((path, True), (other, False)):
            on.add_api_route(
                where,
                endpoint,
                methods=[method],
                summary=summary,
                status_code=status_code,
                include_in_schema=listed,
            )
        return endpoint

    return register


Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Events per page (default {DEFAULT_LIMIT})"),
]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="The next page's cursor, from `X-Next-Cursor` or `Link`"),
]
Segment = Annotated[str, Path(min_length=1, max_length=LIMITS.max_dimension_chars)]
Deployment = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=LIMITS.max_dimension_chars,
        description="Only this deployment's events (otherwise every event naming a deployment)",
    ),
]


@dataclass(frozen=True)
class _Reader:
    """What every query route shares: the caller, the services and the page requested."""

    request: Request
    services: Services
    principal: Principal
    limit: int
    cursor: str | None

    async def answer(self, flt: EventFilter) -> Response:
        """One page, newest first, as the document's `Events` array; the next page in headers."""
        page = await self.services.events.page(
            principal=self.principal,
            flt=flt,
            page=1,
            per_page=self.limit,
            cursor=self.cursor,
            with_total=False,
        )
        headers: dict[str, str] = {}
        if page.next_cursor is not None:
            url = self.request.url.include_query_params(limit=self.limit, cursor=page.next_cursor)
            headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
            headers["X-Next-Cursor"] = page.next_cursor
        body = orjson.dumps([event_json(event) for event in page.items])
        return Response(body, media_type="application/json", headers=headers)


async def _reader(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> _Reader:
    return _Reader(request, services, principal, limit, cursor)


ReaderDep = Annotated[_Reader, Depends(_reader)]


@serve("GET", f"{QUERY}/", "All events the caller may see (EscapeKit)")
async def query_all(reader: ReaderDep) -> Response:
    """Every event visible to the caller, whatever its scope."""
    return await reader.answer(EventFilter())


@serve("GET", f"{QUERY}/inventory/", "Inventory events (EscapeKit)")
async def query_inventory(reader: ReaderDep) -> Response:
    """Events that name an inventory project."""
    return await reader.answer(EventFilter(present=("inventory_project",)))


@serve("GET", f"{QUERY}/inventory/{{project}}/", "An Inventory project's events (EscapeKit)")
async def query_inventory_project(reader: ReaderDep, project: Segment) -> Response:
    """Events of one inventory project."""
    return await reader.answer(EventFilter(dimensions=(("inventory_project", project),)))


@serve(
    "GET",
    f"{QUERY}/inventory/{{project}}/{{application}}/",
    "An Inventory application's events (EscapeKit)",
)
async def query_inventory_application(
    reader: ReaderDep, project: Segment, application: Segment
) -> Response:
    """Events of one application of an inventory project."""
    scope = (("inventory_project", project), ("inventory_application", application))
    return await reader.answer(EventFilter(dimensions=scope))


@serve(
    "GET",
    f"{QUERY}/inventory/{{project}}/{{application}}/{{version}}/",
    "An Inventory release's events (EscapeKit)",
)
async def query_inventory_version(
    reader: ReaderDep, project: Segment, application: Segment, version: Segment
) -> Response:
    """Events of one release (version) of an inventory application."""
    scope = (
        ("inventory_project", project),
        ("inventory_application", application),
        ("inventory_version", version),
    )
    return await reader.answer(EventFilter(dimensions=scope))


@serve("GET", f"{QUERY}/project/", "State events (EscapeKit)")
async def query_state(reader: ReaderDep) -> Response:
    """Events that name a state project."""
    return await reader.answer(EventFilter(present=("state_project",)))


@serve("GET", f"{QUERY}/project/{{project}}/", "A State project's events (EscapeKit)")
async def query_state_project(reader: ReaderDep, project: Segment) -> Response:
    """Events of one state project."""
    return await reader.answer(EventFilter(dimensions=(("state_project", project),)))


@serve(
    "GET",
    f"{QUERY}/project/{{project}}/{{environment}}/",
    "A State project environment's events (EscapeKit)",
)
async def query_state_environment(
    reader: ReaderDep, project: Segment, environment: Segment
) -> Response:
    """Events of one environment of a state project."""
    scope = (("state_project", project), ("state_environment", environment))
    return await reader.answer(EventFilter(dimensions=scope))


@serve(
    "GET",
    f"{QUERY}/project/{{project}}/{{environment}}/deployment",
    "Deployment events of a State project environment (EscapeKit)",
)
async def query_state_deployment(
    reader: ReaderDep, project: Segment, environment: Segment, deployment: Deployment = None
) -> Response:
    """Events of the environment that name a deployment, or only `?deployment=`'s events.

    The document's path names no deployment, so the deployment is an optional query parameter.
    """
    scope: tuple[tuple[str, str | int], ...] = (
        ("state_project", project),
        ("state_environment", environment),
    )
    if deployment is not None:
        scope += (("state_deployment", deployment),)
    return await reader.answer(EventFilter(dimensions=scope, present=("state_deployment",)))


@serve("POST", CREATE_PATH, "Record an event (EscapeKit, service accounts only)", 201)
async def create_event(
    body: EscapeKitEventCreate,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> Response:
    """Store one event for a service account holding `events:write`; 201 with the stored event.

    The path is the platform's internal sink (the Inventory and State services write to it), so
    people are refused even when they are admins: they record events through the native API.
    """
    if principal.kind != PrincipalKind.SERVICE:
        raise Forbidden(
            f"{CREATE_PATH} is for service accounts only; '{principal.name}' is a user "
            "(record events as a user with POST /api/v1/events)"
        )
    require(principal, Permission.EVENTS_WRITE)
    new = to_new_event(body, max_depth=services.settings.max_payload_depth)
    outcome = await services.ingest.ingest(
        principal=principal,
        new_events=[new],
        request_id=request_id,
        render=lambda stored: (201, orjson.dumps(event_json(stored[0]))),
    )
    return Response(outcome.body, status_code=outcome.status_code, media_type="application/json")
