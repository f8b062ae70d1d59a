"""One event log, four shapes: an event created through any dialect reads the same in all others.

Events are created through the native API, Tracker and EscapeKit (Socotra's document has no create
endpoint) by one service account, then each is read back through the native API, Tracker, Socotra
and EscapeKit, and the facts every shape carries are compared: id, type, time, actor, request,
payload and the dimensions each dialect shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, create_service_account, settle
from tidings.domain.timestamps import parse_rfc3339
from tidings.services.runtime import Services


@dataclass(frozen=True)
class Created:
    """What the creating dialect told us, and the request that created it."""

    dialect: str
    id: int
    request_id: str


@dataclass(frozen=True)
class Caller:
    """The service account every event is created by, and its tenant."""

    headers: dict[str, str]
    locator: str
    tenant: str


@pytest.fixture
async def caller(client: httpx.AsyncClient, admin: dict[str, str]) -> Caller:
    """A writer service account."""
    key = await create_service_account(client, admin, "producer", roles=["writer"])
    me = (await client.get("/api/v1/auth/me", headers=bearer(key))).json()["data"]
    return Caller(bearer(key), me["locator"], me["tenant"])


async def _create_native(client: httpx.AsyncClient, caller: Caller) -> Created:
    body = {
        "type": "deployment",
        "title": "Deploy api 1.2",
        "payload": {"commit": "abc123"},
        "service": "api",
        "environment": "production",
        "status": "success",
        "priority": 2,
        "inventory_project": "shop",
        "username": "alice",
    }
    response = await client.post("/api/v1/events", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    return Created("native", response.json()["data"]["id"], response.headers["X-Request-ID"])


async def _create_tracker(client: httpx.AsyncClient, caller: Caller) -> Created:
    body = {
        "title": "Deploy api 1.2",
        "attributes": {
            "type": 1,
            "service": "api",
            "environment": 7,
            "status": 3,
            "priority": 2,
            "notification": True,
        },
    }
    response = await client.post("/api/v1alpha1/event", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    return Created("tracker", int(response.json()["id"]), response.headers["X-Request-ID"])


async def _create_escapekit(client: httpx.AsyncClient, caller: Caller) -> Created:
    body = {
        "type": "deployment",
        "inventory_project": "shop",
        "username": "alice",
        "data": {"commit": "abc123"},
    }
    response = await client.post("/internal/create-event", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    return Created("escapekit", int(response.json()["id"]), response.headers["X-Request-ID"])


async def _facts(client: httpx.AsyncClient, caller: Caller, event_id: int) -> dict[str, Any]:
    """The event as each dialect renders it."""
    native = await client.get(f"/api/v1/events/{event_id}", headers=caller.headers)
    tracker = await client.get(f"/api/v1alpha1/event/{event_id}", headers=caller.headers)
    socotra = await client.get(f"/event/{caller.tenant}/events/{event_id}", headers=caller.headers)
    escapekit = await client.get("/api/v1/events/query/", headers=caller.headers)
    for response in (native, tracker, socotra, escapekit):
        assert response.status_code == 200, response.text
    [escapekit_event] = [e for e in escapekit.json() if e["id"] == str(event_id)]
    return {
        "native": native.json()["data"],
        "tracker": tracker.json(),
        "socotra": socotra.json(),
        "escapekit": escapekit_event,
    }


@pytest.mark.parametrize("create", [_create_native, _create_tracker, _create_escapekit])
async def test_an_event_reads_the_same_through_every_dialect(
    client: httpx.AsyncClient, caller: Caller, create: Any
) -> None:
    created: Created = await create(client, caller)
    shapes = await _facts(client, caller, created.id)
    native, tracker, socotra, escapekit = (
        shapes["native"],
        shapes["tracker"],
        shapes["socotra"],
        shapes["escapekit"],
    )

    # Identity: one id, an integer natively and its string elsewhere.
    assert native["id"] == created.id
    assert tracker["id"] == socotra["locator"] == escapekit["id"] == str(created.id)
    # Type: the core name everywhere; Tracker shows its code and the name.
    assert native["type"] == socotra["type"] == escapekit["type"] == "deployment"
    assert tracker["attributes"]["type"] == 1
    assert tracker["eventType"] == "deployment"
    # Time: the same instant in each dialect's notation (Socotra's is the recording time, which
    # for an event created now is the same instant).
    occurred = parse_rfc3339(native["occurred_at"])
    assert parse_rfc3339(tracker["createdAt"]) == occurred
    assert parse_rfc3339(socotra["timestamp"]) == parse_rfc3339(native["recorded_at"]) == occurred
    assert escapekit["timestamp"] == occurred
    # Who and through which request.
    assert native["actor"] == socotra["userLocator"] == caller.locator
    assert native["request_id"] == socotra["requestId"] == created.request_id
    request = await client.get(
        f"/event/{caller.tenant}/events/request/{created.request_id}", headers=caller.headers
    )
    assert [e["locator"] for e in request.json()] == [str(created.id)]
    # Payload: native `payload` is Socotra's and EscapeKit's `data`.
    assert socotra["data"] == native["payload"]
    assert escapekit.get("data", {}) == native["payload"]

    if created.dialect in ("native", "tracker"):
        assert (native["service"], native["environment"], native["status"]) == (
            "api",
            "production",
            "success",
        )
        assert native["priority"] == tracker["attributes"]["priority"] == 2
        assert tracker["attributes"]["service"] == "api"
        assert tracker["attributes"]["environment"] == 7
        assert tracker["attributes"]["status"] == 3
        assert native["title"] == tracker["title"] == "Deploy api 1.2"
    if created.dialect in ("native", "escapekit"):
        assert native["inventory_project"] == escapekit["inventory_project"] == "shop"
        assert native["username"] == escapekit["username"] == "alice"
        inventory = await client.get("/api/v1/events/query/inventory/shop/", headers=caller.headers)
        assert [e["id"] for e in inventory.json()] == [str(created.id)]
    if created.dialect == "tracker":
        assert native["payload"] == {"notification": True}
        assert tracker["attributes"]["notification"] is True


async def test_the_stream_lists_events_of_every_dialect_in_commit_order(
    client: httpx.AsyncClient, caller: Caller, services: Services
) -> None:
    created = [
        await _create_native(client, caller),
        await _create_tracker(client, caller),
        await _create_escapekit(client, caller),
    ]
    await settle(services)  # past the PostgreSQL stream horizon (see the helper)
    stream = await client.get(f"/event/{caller.tenant}/events/list", headers=caller.headers)
    assert stream.status_code == 200, stream.text
    assert [e["locator"] for e in stream.json()["events"]] == [str(c.id) for c in created]
    tracker_list = await client.get("/api/v1alpha1/events/list", headers=caller.headers)
    assert [e["id"] for e in tracker_list.json()["events"]] == [str(c.id) for c in created][::-1]
