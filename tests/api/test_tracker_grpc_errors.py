"""Tracker's gRPC API refuses as REST does: authentication, permissions, validation and
idempotency map onto gRPC status codes with REST's messages (in the proto's field names), on
both engines. And the generated modules are made on demand by the one mechanism `codegen`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.api.helpers import create_service_account
from tests.api.tracker_grpc import ADMIN, create, failure
from tests.clocks import SettableClock
from tidings.api.grpc import codegen
from tidings.api.grpc import server as grpc_api
from tidings.api.grpc.stubs import pb, pb_grpc
from tidings.services.runtime import Services

TYPES = "1 (deployment), 2 (operation), 3 (drift), 4 (incident), 5 (rpa_usage)"
# One well-formed request per method: each must still be refused without a valid credential.
EVERY_METHOD: list[tuple[str, Any]] = [
    ("CreateEvent", pb.CreateEventRequest(title="t", attributes={"type": "1", "service": "s"})),
    ("GetEvent", pb.GetEventRequest(id="1")),
    ("ListEvents", pb.ListEventsRequest()),
    ("SearchEvents", pb.SearchEventsRequest(priority="1")),
    ("UpdateEvent", pb.UpdateEventRequest(id="1", title="t")),
    ("DeleteEvent", pb.DeleteEventRequest(id="1")),
    ("TodayEvents", pb.TodayEventsRequest()),
]


@pytest.fixture
def clock() -> SettableClock:
    """The services' clock."""
    return SettableClock("2024-01-15T10:00:00Z")


@pytest.fixture
async def stub(services: Services) -> AsyncIterator[Any]:
    """A generated stub on a gRPC server on a free loopback port."""
    started = await grpc_api.start(services, host="127.0.0.1", port=0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{started.port}") as channel:
            yield pb_grpc.EventServiceStub(channel)
    finally:
        await started.stop(grace=None)


def trailer(error: grpc.aio.AioRpcError, key: str) -> str | None:
    """One trailing metadata value of a failed call."""
    values = [value for name, value in error.trailing_metadata() or () if name == key]
    return str(values[0]) if values else None


@pytest.mark.parametrize(
    ("method", "request_message"), EVERY_METHOD, ids=[m for m, _ in EVERY_METHOD]
)
@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "Missing bearer token"),
        ((("authorization", "Basic YWRtaW46YWRtaW4="),), "Missing bearer token"),
        ((("authorization", "Bearer "),), "Missing bearer token"),
        ((("authorization", "Bearer tdg_not-a-key-0123456789"),), "Invalid or revoked API key"),
        ((("authorization", "Bearer a.b.c"),), "Invalid access token"),
    ],
    ids=["none", "basic", "empty", "unknown-key", "bad-jwt"],
)
async def test_every_method_needs_a_valid_bearer_credential(
    stub: Any,
    method: str,
    request_message: Any,
    metadata: tuple[tuple[str, str], ...],
    message: str,
) -> None:
    error = await failure(getattr(stub, method)(request_message, metadata=metadata))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, message)


async def test_permissions_are_those_of_rest(
    stub: Any, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event_id = await create(stub)
    reader = await create_service_account(client, admin, "dashboards", roles=["reader"])
    writer = await create_service_account(client, admin, "ci", roles=["writer"])

    def as_(token: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {token}"),)

    denied = await failure(
        stub.DeleteEvent(pb.DeleteEventRequest(id=event_id), metadata=as_(writer))
    )
    assert (denied.code(), denied.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Permission 'events:delete' is required",
    )
    refused = await failure(stub.CreateEvent(EVERY_METHOD[0][1], metadata=as_(reader)))
    assert (refused.code(), refused.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "Permission 'events:write' is required",
    )
    # What each may do, it can: the reader reads, the writer creates.
    got = await stub.GetEvent(pb.GetEventRequest(id=event_id), metadata=as_(reader))
    created = await stub.CreateEvent(EVERY_METHOD[0][1], metadata=as_(writer))
    assert (got.id, created.id) == ("1", "2")


async def test_unknown_code_names_the_field_and_the_allowed_values(stub: Any) -> None:
    request = pb.CreateEventRequest(
        title="t", attributes=pb.Attributes(type="9", service="s", start_date="tomorrow")
    )
    error = await failure(stub.CreateEvent(request, metadata=ADMIN))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        f"Invalid request data: attributes.type: must be one of {TYPES}; got 9 (and 1 more)"
    )
    details = json.loads(trailer(error, "tidings-error-details") or "null")
    assert details == [
        {"field": "attributes.type", "message": f"must be one of {TYPES}; got 9"},
        {
            "field": "attributes.start_date",
            "message": "'tomorrow' is not an RFC 3339 date-time with a time zone "
            "(for example 2024-01-15T10:00:00Z)",
        },
    ]
    assert len(trailer(error, "x-request-id") or "") == 32


@pytest.mark.parametrize(
    ("request_message", "message"),
    [
        (
            pb.CreateEventRequest(attributes=pb.Attributes(type="1", service="s")),
            "Invalid request data: title: Field required",
        ),
        (
            pb.CreateEventRequest(title="t", attributes=pb.Attributes(type="1")),
            "Invalid request data: attributes.service: is required",
        ),
        (pb.CreateEventRequest(title="t"), "Invalid request data: attributes: Field required"),
        (
            pb.CreateEventRequest(
                title="t", attributes=pb.Attributes(type="1", service="s", end_date="2024-01-15")
            ),
            "Invalid request data: attributes.end_date: '2024-01-15' is not an RFC 3339 "
            "date-time with a time zone (for example 2024-01-15T10:00:00Z)",
        ),
        (
            pb.CreateEventRequest(
                title="t", attributes=pb.Attributes(type="1", service="s", notifications=["sms"])
            ),
            "Invalid request data: attributes.notifications: must list only slack, email; "
            "got ['sms']",
        ),
    ],
    ids=["no-title", "no-service", "no-attributes", "date-only", "unknown-channel"],
)
async def test_create_validation_matches_rest(
    stub: Any, request_message: Any, message: str
) -> None:
    error = await failure(stub.CreateEvent(request_message, metadata=ADMIN))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)


async def test_update_refusals(stub: Any) -> None:
    event_id = await create(stub)
    cleared = pb.UpdateEventRequest(id=event_id, attributes=pb.AttributesUpdate(type=""))
    missing = pb.UpdateEventRequest(id="999", title="t")
    foreign = pb.UpdateEventRequest(id="507f1f77bcf86cd799439011", title="t")
    outcomes = [
        await failure(stub.UpdateEvent(request, metadata=ADMIN))
        for request in (cleared, missing, foreign)
    ]
    assert [(e.code(), e.details()) for e in outcomes] == [
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "Invalid request data: attributes.type: is required and cannot be cleared",
        ),
        (grpc.StatusCode.NOT_FOUND, "Event with ID 999 not found"),
        (grpc.StatusCode.NOT_FOUND, "Event with ID 507f1f77bcf86cd799439011 not found"),
    ]


@pytest.mark.parametrize(
    ("method", "request_message", "message"),
    [
        (
            "ListEvents",
            pb.ListEventsRequest(per_page=101),
            "Invalid request data: per_page: must be between 1 and 100 (0 means the default)",
        ),
        (
            "TodayEvents",
            pb.TodayEventsRequest(page=-1),
            "Invalid request data: page: must be between 1 and 1000000 (0 means 1)",
        ),
        (
            "SearchEvents",
            pb.SearchEventsRequest(environment="9"),
            "Invalid request data: environment: must be one of 1 (development), "
            "2 (integration), 3 (tnr), 4 (uat), 5 (recette), 6 (preproduction), "
            "7 (production), 8 (mco); got 9",
        ),
        (
            "SearchEvents",
            pb.SearchEventsRequest(type="deploy"),
            f"Invalid request data: type: must be one of {TYPES}; got 'deploy'",
        ),
        (
            "SearchEvents",
            pb.SearchEventsRequest(start_date="2024-02-01", end_date="2024-01-01"),
            "Invalid request data: start_date: must not be later than end_date",
        ),
    ],
    ids=["per-page", "page", "environment", "type-word", "dates-reversed"],
)
async def test_page_and_filter_refusals(
    stub: Any, method: str, request_message: Any, message: str
) -> None:
    error = await failure(getattr(stub, method)(request_message, metadata=ADMIN))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)


async def test_idempotency_key_replays_and_refuses_reuse(stub: Any) -> None:
    keyed = (*ADMIN, ("idempotency-key", "deploy-42"))
    request = pb.CreateEventRequest(title="t", attributes=pb.Attributes(type="1", service="s"))
    answers: list[Any] = []
    replayed: list[str | None] = []
    for _ in range(2):  # one after the other: the second is the retry
        call = stub.CreateEvent(request, metadata=keyed)
        answers.append(await call)
        replayed.append(dict(await call.trailing_metadata()).get("idempotent-replayed"))
    assert answers[0] == answers[1]
    assert answers[0].id == "1"
    assert replayed == [None, "true"]
    listed = await stub.ListEvents(pb.ListEventsRequest(), metadata=ADMIN)
    assert listed.total == 1

    other = pb.CreateEventRequest(title="other", attributes=pb.Attributes(type="1", service="s"))
    error = await failure(stub.CreateEvent(other, metadata=keyed))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "Idempotency-Key was already used for a different request; "
        "send a new key for a new request",
    )
    bad = await failure(stub.CreateEvent(request, metadata=(*ADMIN, ("idempotency-key", "a b"))))
    assert (bad.code(), bad.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Invalid metadata: idempotency-key: must be 1-255 printable ASCII characters",
    )


def test_codegen_makes_importable_modules_and_notices_a_stale_copy(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert codegen.is_current(out) is False
    codegen.ensure_current(out)
    module_dir = out / "tracker" / "event" / "v1alpha1"
    assert sorted(p.name for p in module_dir.iterdir()) == [
        "__init__.py",
        "event_pb2.py",
        "event_pb2.pyi",
        "event_pb2_grpc.py",
    ]
    assert "\nfrom . import event_pb2 as " in (module_dir / "event_pb2_grpc.py").read_text()
    assert (out / "SOURCE").read_text() == codegen.source_digest() + "\n"
    assert codegen.is_current(out) is True

    (out / "SOURCE").write_text("made from another .proto\n")
    (module_dir / "event_pb2.py").write_text("stale = True\n")
    assert codegen.is_current(out) is False
    codegen.ensure_current(out)
    assert codegen.is_current(out) is True
    assert "stale" not in (module_dir / "event_pb2.py").read_text()
    # Nothing is left beside the output: staging and retired copies are removed.
    assert [p.name for p in tmp_path.iterdir()] == ["generated"]


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (
            pb.CreateEventRequest(title="a\x00", attributes=pb.Attributes(type="1", service="s")),
            "title",
        ),
        (pb.SearchEventsRequest(service="x\x00"), "service"),
    ],
)
async def test_a_nul_character_is_invalid_argument(
    stub: Any, request_message: Any, field: str
) -> None:
    method = (
        stub.CreateEvent
        if isinstance(request_message, pb.CreateEventRequest)
        else (stub.SearchEvents)
    )
    error = await failure(method(request_message, metadata=ADMIN))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Invalid request data: {field}: must not contain the NUL character (\\u0000)",
    )
