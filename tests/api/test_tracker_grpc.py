"""Tracker's gRPC API (`seeds/003_…txt`, "gRPC API") on an in-process server, on both engines.

grpcurl is not installed here, so `Grpcurl` below does what it does: it asks the server's
reflection service for the descriptors, builds dynamic messages from them, parses the document's
`-d` JSON into them with json_format, and prints the answer as JSON. The document's calls are
sent exactly as written (plus the `authorization` metadata). The other tests use the generated
stubs, one RPC at a time, on services whose clock the test sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import struct_pb2

from tests.api.tracker_grpc import ADMIN, SERVICE, Grpcurl, create, failure
from tests.clocks import SettableClock
from tidings.api.grpc import server as grpc_api
from tidings.api.grpc.stubs import pb, pb_grpc
from tidings.services.runtime import Services

METHODS = {
    "CreateEvent": ("CreateEventRequest", "CreateEventResponse"),
    "GetEvent": ("GetEventRequest", "Event"),
    "ListEvents": ("ListEventsRequest", "ListEventsResponse"),
    "SearchEvents": ("SearchEventsRequest", "SearchEventsResponse"),
    "UpdateEvent": ("UpdateEventRequest", "Event"),
    "DeleteEvent": ("DeleteEventRequest", "DeleteEventResponse"),
    "TodayEvents": ("TodayEventsRequest", "TodayEventsResponse"),
}

# The document's grpcurl `-d` bodies, verbatim.
DOC_CREATE = """{
  "title": "Deploy user-service v2.1.0",
  "attributes": {
    "message": "Deployed via GitHub Actions",
    "type": "1",
    "priority": "2",
    "service": "user-service",
    "status": "3",
    "environment": "7",
    "start_date": "2024-01-15T10:00:00Z",
    "end_date": "2024-01-15T10:05:00Z"
  },
  "links": {
    "pull_request_link": "https://github.com/org/repo/pull/123"
  }
}"""
DOC_GET = """{
  "id": "507f1f77bcf86cd799439011"
}"""
DOC_SEARCH_PRIORITY = """{
  "priority": "1"
}"""
DOC_SEARCH_DATES = """{
  "start_date": "2024-01-01",
  "end_date": "2024-01-31"
}"""


@pytest.fixture
def clock() -> SettableClock:
    """Every test starts at the instant the document's examples are dated."""
    return SettableClock("2024-01-15T10:00:00Z")


@pytest.fixture
async def grpc_server(services: Services) -> AsyncIterator[grpc_api.GrpcServer]:
    """The gRPC server on a free loopback port, on the test's services and event loop."""
    started = await grpc_api.start(services, host="127.0.0.1", port=0)
    try:
        yield started
    finally:
        await started.stop(grace=None)


@pytest.fixture
async def stub(grpc_server: grpc_api.GrpcServer) -> AsyncIterator[Any]:
    """Generated client stub of the EventService."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        yield pb_grpc.EventServiceStub(channel)


async def test_reflection_lists_and_describes_the_services(
    grpc_server: grpc_api.GrpcServer,
) -> None:
    grpcurl = Grpcurl(f"127.0.0.1:{grpc_server.port}")
    try:
        services = await asyncio.to_thread(grpcurl.list)
        methods = await asyncio.to_thread(grpcurl.describe, SERVICE)
    finally:
        grpcurl.close()
    assert services == ["grpc.reflection.v1alpha.ServerReflection", SERVICE]
    assert methods == METHODS


async def test_document_grpcurl_calls_as_written(
    grpc_server: grpc_api.GrpcServer, clock: SettableClock, stub: Any
) -> None:
    grpcurl = Grpcurl(f"127.0.0.1:{grpc_server.port}")
    target = f"{SERVICE}/"
    try:
        created = await asyncio.to_thread(grpcurl.call, target + "CreateEvent", DOC_CREATE)
        listed = await asyncio.to_thread(grpcurl.call, target + "ListEvents")
        # An incident (priority 1) on another day, for the two searches to tell apart.
        clock.set("2024-02-02T08:00:00Z")
        incident = await create(stub, type="4", priority="1", service="database")
        by_priority = await asyncio.to_thread(
            grpcurl.call, target + "SearchEvents", DOC_SEARCH_PRIORITY
        )
        by_dates = await asyncio.to_thread(grpcurl.call, target + "SearchEvents", DOC_SEARCH_DATES)
        with pytest.raises(grpc.RpcError) as missing:
            await asyncio.to_thread(grpcurl.call, target + "GetEvent", DOC_GET)
    finally:
        grpcurl.close()
    # grpcurl prints JSON names (lowerCamelCase) and leaves out empty fields, as below.
    assert created == {
        "id": "1",
        "title": "Deploy user-service v2.1.0",
        "createdAt": "2024-01-15T10:00:00Z",
    }
    event = {
        "id": "1",
        "title": "Deploy user-service v2.1.0",
        "eventType": "deployment",
        "attributes": {
            "message": "Deployed via GitHub Actions",
            "type": "1",
            "priority": "2",
            "service": "user-service",
            "status": "3",
            "environment": "7",
            "startDate": "2024-01-15T10:00:00Z",
            "endDate": "2024-01-15T10:05:00Z",
        },
        "links": {"pullRequestLink": "https://github.com/org/repo/pull/123"},
        "createdAt": "2024-01-15T10:00:00Z",
        "updatedAt": "2024-01-15T10:00:00Z",
    }
    page = {"page": 1, "perPage": 10, "total": 1, "totalPages": 1}
    assert listed == {"events": [event], **page}
    assert incident == "2"
    assert [e["id"] for e in by_priority["events"]] == ["2"]
    assert by_dates == {"events": [event], **page}
    error: Any = missing.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Event with ID 507f1f77bcf86cd799439011 not found"


COMPLETE = pb.CreateEventRequest(
    title="Deploy user-service v2.1.0 to production",
    attributes=pb.Attributes(
        message="Deployed via GitHub Actions workflow",
        source="github_actions",
        type="1",
        priority="2",
        related_id="parent-event-uuid",
        service="user-service",
        status="3",
        environment="7",
        impact="2",
        start_date="2024-01-15T10:00:00Z",
        end_date="2024-01-15T10:05:00Z",
        owner="platform-team",
        stake_holders=["backend-team", "ops-team"],
        notification=True,
        notifications=["slack", "email"],
    ),
    links=pb.Links(
        pull_request_link="https://github.com/org/repo/pull/123",
        ticket="PROJ-456",
        other={"runbook": "https://wiki/runbook"},
    ),
)


def complete_event(event_id: str) -> pb.Event:
    """COMPLETE as GetEvent renders it, never updated."""
    return pb.Event(
        id=event_id,
        title=COMPLETE.title,
        event_type="deployment",
        attributes=COMPLETE.attributes,
        links=COMPLETE.links,
        created_at="2024-01-15T10:00:00Z",
        updated_at="2024-01-15T10:00:00Z",
    )


async def test_create_then_get_round_trips_every_field(stub: Any) -> None:
    created = await stub.CreateEvent(COMPLETE, metadata=ADMIN)
    assert created == pb.CreateEventResponse(
        id="1", title=COMPLETE.title, created_at="2024-01-15T10:00:00Z"
    )
    assert await stub.GetEvent(pb.GetEventRequest(id="1"), metadata=ADMIN) == complete_event("1")


async def test_event_created_over_grpc_reads_the_same_over_rest(
    stub: Any, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await stub.CreateEvent(COMPLETE, metadata=ADMIN)
    response = await client.get("/api/v1alpha1/event/1", headers=admin)
    assert response.status_code == 200
    assert response.json() == {
        "id": "1",
        "title": "Deploy user-service v2.1.0 to production",
        "eventType": "deployment",
        "attributes": {
            "message": "Deployed via GitHub Actions workflow",
            "source": "github_actions",
            "type": 1,
            "priority": 2,
            "relatedId": "parent-event-uuid",
            "service": "user-service",
            "status": 3,
            "environment": 7,
            "impact": 2,
            "startDate": "2024-01-15T10:00:00Z",
            "endDate": "2024-01-15T10:05:00Z",
            "owner": "platform-team",
            "stakeHolders": ["backend-team", "ops-team"],
            "notification": True,
            "notifications": ["slack", "email"],
        },
        "links": {
            "pullRequestLink": "https://github.com/org/repo/pull/123",
            "ticket": "PROJ-456",
            "runbook": "https://wiki/runbook",
        },
        "createdAt": "2024-01-15T10:00:00Z",
        "updatedAt": "2024-01-15T10:00:00Z",
        "revisions": [],
    }


def value(item: str | int | None) -> struct_pb2.Value:
    """A JSON value as google.protobuf.Value."""
    if item is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(item, int):
        return struct_pb2.Value(number_value=item)
    return struct_pb2.Value(string_value=item)


async def test_update_changes_only_what_was_sent_and_records_a_revision(
    stub: Any, clock: SettableClock, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await stub.CreateEvent(COMPLETE, metadata=ADMIN)
    me = (await client.get("/api/v1/auth/me", headers=admin)).json()["data"]
    clock.set("2024-01-15T10:06:00Z")
    request = pb.UpdateEventRequest(
        id="1",
        attributes=pb.AttributesUpdate(status="4", end_date="2024-01-15T10:06:00Z", priority=""),
        links=pb.LinksUpdate(pull_request_link="", other={"dashboard": "https://grafana/d/1"}),
    )
    updated = await stub.UpdateEvent(request, metadata=ADMIN)

    expected = complete_event("1")
    expected.updated_at = "2024-01-15T10:06:00Z"
    expected.attributes.status = "4"
    expected.attributes.end_date = "2024-01-15T10:06:00Z"
    expected.attributes.priority = ""
    expected.links.pull_request_link = ""
    expected.links.other["dashboard"] = "https://grafana/d/1"
    revision = expected.revisions.add(
        revision=1, kind="update", by="admin", by_locator=me["locator"], at="2024-01-15T10:06:00Z"
    )
    changes: list[tuple[str, str | int | None, str | int | None]] = [
        ("attributes.priority", 2, None),
        ("attributes.status", 3, 4),
        ("attributes.end_date", "2024-01-15T10:05:00Z", "2024-01-15T10:06:00Z"),
        ("links.dashboard", None, "https://grafana/d/1"),
        ("links.pull_request_link", "https://github.com/org/repo/pull/123", None),
    ]
    for field, old, new in changes:
        revision.changes.add(field=field, old=value(old), new=value(new))
    assert updated == expected
    assert await stub.GetEvent(pb.GetEventRequest(id="1"), metadata=ADMIN) == expected


async def test_delete_then_get_is_not_found(stub: Any) -> None:
    event_id = await create(stub)
    deleted = await stub.DeleteEvent(pb.DeleteEventRequest(id=event_id), metadata=ADMIN)
    assert deleted == pb.DeleteEventResponse(id=event_id)
    for call in (
        stub.GetEvent(pb.GetEventRequest(id=event_id), metadata=ADMIN),
        stub.DeleteEvent(pb.DeleteEventRequest(id=event_id), metadata=ADMIN),
    ):
        error = await failure(call)
        assert (error.code(), error.details()) == (
            grpc.StatusCode.NOT_FOUND,
            f"Event with ID {event_id} not found",
        )


async def page_of(stub: Any, method: str, request: Any) -> tuple[list[str], list[int]]:
    """The ids of a page, and its [page, per_page, total, total_pages]."""
    response = await getattr(stub, method)(request, metadata=ADMIN)
    numbers = [response.page, response.per_page, response.total, response.total_pages]
    return [e.id for e in response.events], numbers


async def test_list_pages_newest_first(stub: Any, clock: SettableClock) -> None:
    for minute in range(5):
        clock.set(f"2024-01-15T10:0{minute}:00Z")
        await create(stub)
    pages = [
        await page_of(stub, "ListEvents", pb.ListEventsRequest(per_page=2, page=n))
        for n in (1, 2, 3, 4)
    ]
    assert pages == [
        (["5", "4"], [1, 2, 5, 3]),
        (["3", "2"], [2, 2, 5, 3]),
        (["1"], [3, 2, 5, 3]),
        ([], [4, 2, 5, 3]),
    ]
    assert await page_of(stub, "ListEvents", pb.ListEventsRequest()) == (
        ["5", "4", "3", "2", "1"],
        [1, 10, 5, 1],
    )


async def test_search_filters_return_exactly_the_matching_events(
    stub: Any, clock: SettableClock
) -> None:
    clock.set("2024-01-10T12:00:00Z")
    await create(stub, type="4", priority="1", service="db", status="7", environment="7")  # 1
    clock.set("2024-01-20T12:00:00Z")
    await create(stub, type="1", priority="2", service="api", status="3", environment="7")  # 2
    clock.set("2024-02-05T12:00:00Z")
    await create(stub, type="1", priority="1", service="api", status="4", environment="1")  # 3
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"priority": "1"}, ["3", "1"]),
        ({"type": "1", "environment": "7"}, ["2"]),
        ({"service": "api", "priority": "1"}, ["3"]),
        ({"status": "7"}, ["1"]),
        ({"start_date": "2024-01-01", "end_date": "2024-01-31"}, ["2", "1"]),
        # end_date as a date includes its whole day; RFC 3339 bounds are exact instants.
        ({"start_date": "2024-01-20", "end_date": "2024-02-05"}, ["3", "2"]),
        ({"start_date": "2024-01-20T12:00:01Z"}, ["3"]),
        ({"end_date": "2024-01-20T12:00:00Z"}, ["2", "1"]),
        ({"type": "2"}, []),
    ]
    found = [
        (filters, (await page_of(stub, "SearchEvents", pb.SearchEventsRequest(**filters)))[0])
        for filters, _ in cases
    ]
    assert found == cases


async def test_today_is_the_calendar_day_of_the_clock(stub: Any, clock: SettableClock) -> None:
    clock.set("2024-01-14T23:59:59Z")
    await create(stub)
    clock.set("2024-01-15T00:00:00Z")
    await create(stub)
    clock.set("2024-01-15T23:00:00Z")
    await create(stub)
    clock.set("2024-01-16T00:00:00Z")
    await create(stub)
    clock.set("2024-01-15T12:00:00Z")
    assert await page_of(stub, "TodayEvents", pb.TodayEventsRequest()) == (
        ["3", "2"],
        [1, 10, 2, 1],
    )
