"""Tracker's REST dialect (`seeds/003_…txt`): every curl example of the document, as written plus
the Authorization header, answers with the documented status and shape; codes, revisions,
pagination, search, today's time zone and visibility are checked exactly.

The services run on an injected clock, so the instants the examples record at (and "today") are
known and every timestamp can be asserted exactly.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, create_group, create_service_account, post_event
from tests.clocks import SettableClock
from tidings.api.app import create_app
from tidings.services.runtime import Services
from tidings.settings import Settings

BASE = "/api/v1alpha1"
DOC_ID = "507f1f77bcf86cd799439011"  # the document's example id: not one of ours


def as_written(text: str) -> dict[str, Any]:
    """A request body of the document (its curl `-d` JSON, re-wrapped to fit the line)."""
    body: dict[str, Any] = json.loads(text)
    return body


# The document's curl bodies.
CREATE_EXAMPLE = as_written(
    """{"title": "Deploy user-service v2.1.0 to production",
    "attributes": {"message": "Deployed via GitHub Actions", "type": 1, "priority": 2,
    "service": "user-service", "status": 3, "environment": 7, "owner": "platform-team"},
    "links": {"pullRequestLink": "https://github.com/org/repo/pull/123", "ticket": "PROJ-456"}}"""
)
UPDATE_EXAMPLE = as_written(
    """{"id": "507f1f77bcf86cd799439011", "title": "Deploy user-service v2.1.0 to production",
    "attributes": {"status": 3, "endDate": "2024-01-15T10:05:00Z"}}"""
)
DEPLOY_API = as_written(
    """{"title": "Deploy API v3.2.0 to production",
    "attributes": {"message": "New features: user preferences, dark mode", "type": 1,
    "priority": 2, "service": "api-service", "status": 3, "environment": 7,
    "owner": "backend-team", "startDate": "2024-01-15T14:00:00Z",
    "endDate": "2024-01-15T14:10:00Z"},
    "links": {"pullRequestLink": "https://github.com/org/api/pull/234", "ticket": "FEAT-789"}}"""
)
INCIDENT = as_written(
    """{"title": "Database connection pool exhausted",
    "attributes": {"message": "High traffic caused connection pool saturation", "type": 4,
    "priority": 1, "service": "database", "status": 7, "environment": 7, "impact": 3,
    "owner": "ops-team", "stakeHolders": ["backend-team", "frontend-team"]},
    "links": {"ticket": "INC-456"}}"""
)
DRIFT = as_written(
    """{"title": "Terraform drift detected in VPC configuration",
    "attributes": {"message": "Manual changes detected in security group rules", "type": 3,
    "priority": 3, "service": "infrastructure", "status": 7, "environment": 7,
    "owner": "platform-team"}}"""
)
RPA = as_written(
    """{"title": "Invoice processing automation completed",
    "attributes": {"message": "Processed 250 invoices in 15 minutes", "type": 5, "priority": 1,
    "service": "invoice-automation", "status": 3, "startDate": "2024-01-15T09:00:00Z",
    "endDate": "2024-01-15T09:15:00Z"}}"""
)
# "Complete Event Schema": every attribute the document defines.
COMPLETE = as_written(
    """{"title": "Deploy user-service v2.1.0 to production",
    "attributes": {"message": "Deployed via GitHub Actions workflow", "source": "github_actions",
    "type": 1, "priority": 2, "relatedId": "parent-event-uuid", "service": "user-service",
    "status": 3, "environment": 7, "impact": 2, "startDate": "2024-01-15T10:00:00Z",
    "endDate": "2024-01-15T10:05:00Z", "owner": "platform-team",
    "stakeHolders": ["backend-team", "ops-team"], "notification": true,
    "notifications": ["slack", "email"]},
    "links": {"pullRequestLink": "https://github.com/org/repo/pull/123", "ticket": "PROJ-456"}}"""
)
# A Tracker event's attributes when none was given.
EMPTY_ATTRIBUTES: dict[str, Any] = dict.fromkeys(COMPLETE["attributes"]) | {"stakeHolders": []}


@asynccontextmanager
async def serving(settings: Settings, clock: SettableClock) -> AsyncIterator[httpx.AsyncClient]:
    """Started services on `clock`, and a client on their app."""
    services = Services.build(settings, clock=clock)
    await services.start()
    try:
        transport = httpx.ASGITransport(app=create_app(services, manage_lifecycle=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://tidings.test") as http:
            yield http
    finally:
        await services.stop()


@pytest.fixture
def clock() -> SettableClock:
    """Every test starts at the instant the document's examples are dated."""
    return SettableClock("2024-01-15T10:00:00Z")


@pytest.fixture
async def http(settings: Settings, clock: SettableClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client on services that run on `clock`."""
    async with serving(settings, clock) as client:
        yield client


async def create(http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    """POST one Tracker event; its id."""
    response = await http.post(f"{BASE}/event", headers=headers, json=body)
    assert response.status_code == 201, response.text
    event_id: str = response.json()["id"]
    return event_id


async def get(http: httpx.AsyncClient, headers: dict[str, str], event_id: str) -> dict[str, Any]:
    """GET one Tracker event (must exist)."""
    response = await http.get(f"{BASE}/event/{event_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ids(http: httpx.AsyncClient, headers: dict[str, str], url: str) -> list[str]:
    """The ids of a list/search/today page, in order."""
    response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["events"]]


async def test_create_example_answers_as_documented(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await http.post(f"{BASE}/event", headers=admin, json=CREATE_EXAMPLE)
    assert response.status_code == 201
    assert response.json() == {
        "id": "1",
        "title": "Deploy user-service v2.1.0 to production",
        "createdAt": "2024-01-15T10:00:00Z",
    }
    assert await get(http, admin, "1") == {
        "id": "1",
        "title": "Deploy user-service v2.1.0 to production",
        "eventType": "deployment",
        "attributes": EMPTY_ATTRIBUTES | CREATE_EXAMPLE["attributes"],
        "links": CREATE_EXAMPLE["links"],
        "createdAt": "2024-01-15T10:00:00Z",
        "updatedAt": "2024-01-15T10:00:00Z",
        "revisions": [],
    }


@pytest.mark.parametrize(
    ("body", "event_type"),
    [(DEPLOY_API, "deployment"), (INCIDENT, "incident"), (DRIFT, "drift"), (RPA, "rpa_usage")],
    ids=["deployments", "incidents", "drift", "rpa"],
)
async def test_use_case_examples_round_trip(
    http: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], event_type: str
) -> None:
    response = await http.post(f"{BASE}/event", headers=admin, json=body)
    assert response.status_code == 201
    assert response.json() == {
        "id": "1",
        "title": body["title"],
        "createdAt": "2024-01-15T10:00:00Z",
    }
    event = await get(http, admin, "1")
    assert event["eventType"] == event_type
    assert event["attributes"] == EMPTY_ATTRIBUTES | body["attributes"]
    assert event["links"] == body.get("links", {})


async def test_every_field_round_trips_and_maps_onto_the_core(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event_id = await create(http, admin, COMPLETE)
    event = await get(http, admin, event_id)
    assert event["attributes"] == COMPLETE["attributes"]
    assert event["links"] == COMPLETE["links"]
    native = (await http.get(f"/api/v1/events/{event_id}", headers=admin)).json()["data"]
    expected = {
        "trigger_ref": "deployment",
        "service": "user-service",
        "environment": "production",
        "status": "success",
        "priority": 2,
        "impact": 2,
        "owner": "platform-team",
        "source_ref": "github_actions",
        "related_id": "parent-event-uuid",
        "stakeholders": ["backend-team", "ops-team"],
        "started_at": "2024-01-15T10:00:00Z",
        "ended_at": "2024-01-15T10:05:00Z",
        "payload": {"notification": True, "notifications": ["slack", "email"]},
    }
    assert {k: native[k] for k in expected} == expected


async def test_update_example_is_recorded_as_a_revision(
    http: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    # The document's lifecycle: create with status 1 (Start), then update to 3 and set endDate.
    started = copy.deepcopy(CREATE_EXAMPLE)
    started["attributes"]["status"] = 1
    event_id = await create(http, admin, started)
    me = (await http.get("/api/v1/auth/me", headers=admin)).json()["data"]
    clock.set("2024-01-15T10:05:30Z")
    response = await http.put(
        f"{BASE}/event", headers=admin, json=UPDATE_EXAMPLE | {"id": event_id}
    )
    assert response.status_code == 200
    revision = {
        "revision": 1,
        "kind": "update",
        "by": "admin",
        "byLocator": me["locator"],
        "at": "2024-01-15T10:05:30Z",
        "changes": [
            {"field": "attributes.status", "old": 1, "new": 3},
            {"field": "attributes.endDate", "old": None, "new": "2024-01-15T10:05:00Z"},
        ],
    }
    updated = response.json()
    assert (updated["attributes"]["status"], updated["attributes"]["endDate"]) == (
        3,
        "2024-01-15T10:05:00Z",
    )
    assert (updated["createdAt"], updated["updatedAt"]) == (
        "2024-01-15T10:00:00Z",
        "2024-01-15T10:05:30Z",
    )
    assert updated["revisions"] == [revision]
    assert await get(http, admin, event_id) == updated
    # The same update again changes nothing, so nothing more is recorded.
    clock.set("2024-01-15T10:06:00Z")
    again = await http.put(f"{BASE}/event", headers=admin, json=UPDATE_EXAMPLE | {"id": event_id})
    assert again.status_code == 200
    assert again.json() == updated


async def test_update_of_links_and_payload_fields_is_recorded(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event_id = await create(http, admin, COMPLETE)
    body = {
        "id": event_id,
        "attributes": {"notification": False, "stakeHolders": ["ops-team"], "priority": 1},
        "links": {"ticket": None, "runbook": "https://runbooks.example/deploy"},
    }
    response = await http.put(f"{BASE}/event", headers=admin, json=body)
    assert response.status_code == 200
    event = response.json()
    assert event["links"] == {
        "pullRequestLink": "https://github.com/org/repo/pull/123",
        "runbook": "https://runbooks.example/deploy",
    }
    assert event["revisions"][0]["changes"] == [
        {"field": "attributes.priority", "old": 2, "new": 1},
        {
            "field": "attributes.stakeHolders",
            "old": ["backend-team", "ops-team"],
            "new": ["ops-team"],
        },
        {"field": "links.ticket", "old": "PROJ-456", "new": None},
        {"field": "links.runbook", "old": None, "new": "https://runbooks.example/deploy"},
        {"field": "attributes.notification", "old": True, "new": False},
    ]
    assert (event["attributes"]["notification"], event["attributes"]["priority"]) == (False, 1)


async def test_update_refusals(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    event_id = await create(http, admin, CREATE_EXAMPLE)
    as_written = await http.put(f"{BASE}/event", headers=admin, json=UPDATE_EXAMPLE)
    assert as_written.status_code == 404
    assert as_written.json() == {"error": f"Event with ID {DOC_ID} not found", "status": 404}
    assert (await http.put(f"{BASE}/event", headers=admin, json={"id": "99"})).status_code == 404
    cleared = await http.put(
        f"{BASE}/event", headers=admin, json={"id": event_id, "attributes": {"service": None}}
    )
    assert cleared.status_code == 400
    assert cleared.json()["details"] == [
        {"field": "attributes.service", "message": "is required and cannot be cleared"}
    ]
    no_id = await http.put(f"{BASE}/event", headers=admin, json={"title": "x"})
    assert no_id.json()["details"] == [{"field": "id", "message": "Field required"}]
    assert (await get(http, admin, event_id))["revisions"] == []


async def test_get_and_delete_examples(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    event_id = await create(http, admin, CREATE_EXAMPLE)
    for bad in (DOC_ID, "0", "007", "abc", "²"):
        missing = await http.get(f"{BASE}/event/{bad}", headers=admin)
        assert missing.status_code == 404, bad
    assert (await http.delete(f"{BASE}/event/{DOC_ID}", headers=admin)).status_code == 404
    deleted = await http.delete(f"{BASE}/event/{event_id}", headers=admin)
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = await http.get(f"{BASE}/event/{event_id}", headers=admin)
    assert (gone.status_code, gone.json()) == (
        404,
        {"error": "Event with ID 1 not found", "status": 404},
    )
    assert (await http.delete(f"{BASE}/event/{event_id}", headers=admin)).status_code == 404
    assert await ids(http, admin, f"{BASE}/events/list") == []


async def test_writer_may_update_but_not_delete(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    writer = bearer(await create_service_account(http, admin, "ci", roles=["writer"]))
    event_id = await create(http, writer, CREATE_EXAMPLE)
    refused = await http.delete(f"{BASE}/event/{event_id}", headers=writer)
    assert refused.status_code == 403
    assert refused.json()["status"] == 403
    await get(http, writer, event_id)
    updated = await http.put(f"{BASE}/event", headers=writer, json={"id": event_id, "title": "v2"})
    assert (updated.status_code, updated.json()["revisions"][0]["by"]) == (200, "ci")


async def test_list_examples_paginate_newest_first(
    http: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    for n in range(12):
        clock.set(f"2024-01-15T10:00:{n:02d}Z")
        await create(http, admin, CREATE_EXAMPLE | {"title": f"Deploy {n + 1}"})
    first = await http.get(f"{BASE}/events/list?per_page=10&page=1", headers=admin)
    body = first.json()
    assert [e["id"] for e in body["events"]] == [str(n) for n in range(12, 2, -1)]
    assert {k: body[k] for k in ("page", "per_page", "total", "total_pages")} == {
        "page": 1,
        "per_page": 10,
        "total": 12,
        "total_pages": 2,
    }
    assert body["events"][0]["title"] == "Deploy 12"
    second = (await http.get(f"{BASE}/events/list?per_page=10&page=2", headers=admin)).json()
    assert [e["id"] for e in second["events"]] == ["2", "1"]
    assert (second["page"], second["total"], second["total_pages"]) == (2, 12, 2)
    beyond = (await http.get(f"{BASE}/events/list?per_page=10&page=3", headers=admin)).json()
    assert (beyond["events"], beyond["total"]) == ([], 12)
    assert len(await ids(http, admin, f"{BASE}/events/list")) == 10  # per_page defaults to 10
    for query in ("per_page=0", "per_page=101", "page=0", "page=1000001", "page=x"):
        assert (await http.get(f"{BASE}/events/list?{query}", headers=admin)).status_code == 400


async def seed_search(
    http: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> dict[str, str]:
    """The document's examples, recorded at instants around January 2024; ids by name."""
    operation = {
        "title": "Rotate user-service credentials",
        "attributes": {
            "type": 2,
            "priority": 1,
            "service": "user-service",
            "environment": 4,
            "status": 9,
        },
    }
    plan = [
        ("deploy", CREATE_EXAMPLE, "2023-12-31T23:59:59Z"),
        ("incident", INCIDENT, "2024-01-01T00:00:00Z"),
        ("operation", operation, "2024-01-10T08:00:00Z"),
        ("api", DEPLOY_API, "2024-01-15T14:00:00Z"),
        ("drift", DRIFT, "2024-01-31T23:59:59Z"),
        ("rpa", RPA, "2024-02-01T00:00:00Z"),
    ]
    found: dict[str, str] = {}
    for name, body, at in plan:
        clock.set(at)
        found[name] = await create(http, admin, body)
    return found


async def test_search_examples_return_exactly_the_matches(
    http: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    e = await seed_search(http, admin, clock)
    cases = {
        "priority=1&service=user-service&start_date=2024-01-01": ["operation"],
        "priority=1&type=4": ["incident"],
        "type=1&environment=7": ["api", "deploy"],
        "service=user-service": ["operation", "deploy"],
        "start_date=2024-01-01&end_date=2024-01-31": ["drift", "api", "operation", "incident"],
        "start_date=2024-01-01T00:00:01Z&end_date=2024-01-31T23:59:58Z": ["api", "operation"],
        # 15:00+01:00 is 14:00Z, the api deployment's instant: the start is inclusive.
        "start_date=2024-01-15T15:00:00%2B01:00": ["rpa", "drift", "api"],
        "end_date=2023-12-31": ["deploy"],
        "priority=1": ["rpa", "operation", "incident"],
        "status=7": ["drift", "incident"],
        "environment=4": ["operation"],
        "type=5&status=3": ["rpa"],
        "type=3&priority=1": [],
        "": ["rpa", "drift", "api", "operation", "incident", "deploy"],
    }
    for query, names in cases.items():
        assert await ids(http, admin, f"{BASE}/events/search?{query}") == [e[n] for n in names], (
            query
        )
    paged = (
        await http.get(f"{BASE}/events/search?priority=1&per_page=2&page=2", headers=admin)
    ).json()
    assert ([x["id"] for x in paged["events"]], paged["total"], paged["total_pages"]) == (
        [e["incident"]],
        3,
        2,
    )


# What a 400 lists for each code table (spelled out: the tables are part of the contract).
ALLOWED = {
    "type": "1 (deployment), 2 (operation), 3 (drift), 4 (incident), 5 (rpa_usage)",
    "environment": "1 (development), 2 (integration), 3 (tnr), 4 (uat), 5 (recette), "
    "6 (preproduction), 7 (production), 8 (mco)",
    "status": "1 (start), 3 (success), 4 (failure), 5 (warning), 6 (error), 7 (open), "
    "8 (close), 9 (done)",
    "priority": "1 (P1), 2 (P2), 3 (P3), 4 (P4), 5 (P5)",
    "impact": "1 (low), 2 (medium), 3 (high)",
}
UNKNOWN = {"type": 9, "environment": 0, "status": 2, "priority": 6, "impact": 4}


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        *[
            (
                f"{name}={UNKNOWN[name]}",
                name,
                f"must be one of {ALLOWED[name]}; got {UNKNOWN[name]}",
            )
            for name in ("type", "environment", "status", "priority")
        ],
        (
            "start_date=2024-02-01&end_date=2024-01-31",
            "start_date",
            "must not be later than end_date",
        ),
        ("start_date=2024-13-01", "start_date", "'2024-13-01' is not a valid date (YYYY-MM-DD)"),
    ],
)
async def test_search_refuses_unknown_codes(
    http: httpx.AsyncClient, admin: dict[str, str], query: str, field: str, message: str
) -> None:
    response = await http.get(f"{BASE}/events/search?{query}", headers=admin)
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Invalid query parameters: {field}: {message}",
        "status": 400,
        "details": [{"field": field, "message": message}],
    }


@pytest.mark.parametrize("attribute", list(UNKNOWN))
async def test_unknown_codes_are_refused_naming_the_field(
    http: httpx.AsyncClient, admin: dict[str, str], attribute: str
) -> None:
    value = UNKNOWN[attribute]
    message = f"must be one of {ALLOWED[attribute]}; got {value}"
    expected = {
        "error": f"Invalid request data: attributes.{attribute}: {message}",
        "status": 400,
        "details": [{"field": f"attributes.{attribute}", "message": message}],
    }
    body = copy.deepcopy(CREATE_EXAMPLE)
    body["attributes"][attribute] = value
    created = await http.post(f"{BASE}/event", headers=admin, json=body)
    assert (created.status_code, created.json()) == (400, expected)
    event_id = await create(http, admin, CREATE_EXAMPLE)
    update = {"id": event_id, "attributes": {attribute: value}}
    updated = await http.put(f"{BASE}/event", headers=admin, json=update)
    assert (updated.status_code, updated.json()) == (400, expected)
    assert await ids(http, admin, f"{BASE}/events/list") == [event_id]


@pytest.mark.parametrize(
    ("remove", "details"),
    [
        ("title", [{"field": "title", "message": "Field required"}]),
        ("type", [{"field": "attributes.type", "message": "is required"}]),
        ("service", [{"field": "attributes.service", "message": "is required"}]),
        ("attributes", [{"field": "attributes", "message": "Field required"}]),
    ],
)
async def test_required_fields(
    http: httpx.AsyncClient, admin: dict[str, str], remove: str, details: list[dict[str, str]]
) -> None:
    body = copy.deepcopy(CREATE_EXAMPLE)
    body.pop(remove, None)
    body.get("attributes", {}).pop(remove, None)
    response = await http.post(f"{BASE}/event", headers=admin, json=body)
    assert (response.status_code, response.json()["details"]) == (400, details)
    assert await ids(http, admin, f"{BASE}/events/list") == []


async def test_related_event_snippet_lacks_the_required_service(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    snippet: dict[str, Any] = {
        "title": "Rollback user-service to v2.0.9",
        "attributes": {"relatedId": "original-deployment-id", "type": 1, "status": 1},
    }
    refused = await http.post(f"{BASE}/event", headers=admin, json=snippet)
    assert refused.json()["details"] == [{"field": "attributes.service", "message": "is required"}]
    snippet["attributes"]["service"] = "user-service"
    event = await get(http, admin, await create(http, admin, snippet))
    assert event["attributes"]["relatedId"] == "original-deployment-id"


async def test_codes_may_be_strings_of_digits_but_not_booleans(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body: dict[str, Any] = {"title": "t", "attributes": {"type": "4", "service": "db"}}
    body["attributes"]["environment"] = " 7 "
    event = await get(http, admin, await create(http, admin, body))
    assert (event["eventType"], event["attributes"]["environment"]) == ("incident", 7)
    for value in (True, 1.0, "one"):
        body["attributes"]["type"] = value
        refused = await http.post(f"{BASE}/event", headers=admin, json=body)
        assert refused.json()["details"][0]["field"] == "attributes.type", value
        assert refused.status_code == 400


async def test_idempotent_create(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    headers = admin | {"Idempotency-Key": "deploy-42"}
    first = await http.post(f"{BASE}/event", headers=headers, json=CREATE_EXAMPLE)
    again = await http.post(f"{BASE}/event", headers=headers, json=CREATE_EXAMPLE)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await ids(http, admin, f"{BASE}/events/list") == ["1"]


async def test_every_route_needs_a_credential(http: httpx.AsyncClient) -> None:
    assert (await http.post(f"{BASE}/event", json=CREATE_EXAMPLE)).status_code == 401
    for path in ("/event/1", "/events/list", "/events/search?type=1", "/events/today"):
        assert (await http.get(BASE + path)).status_code == 401, path


@pytest.mark.parametrize(
    ("zone", "expected"),
    # At 11:30 UTC on 15 January it is already 01:30 on the 16th in Kiritimati (UTC+14).
    [
        ("UTC", ["now", "10:00Z", "09:59Z"]),
        ("Pacific/Kiritimati", ["16th 09:59Z", "now", "10:00Z"]),
    ],
)
async def test_today_is_the_configured_zones_day(
    settings: Settings, admin: dict[str, str], zone: str, expected: list[str]
) -> None:
    clock = SettableClock("2024-01-15T11:30:00Z")
    configured = settings.model_copy(update={"tracker_time_zone": zone})
    async with serving(configured, clock) as http:
        made: dict[str, str] = {}
        instants = {
            "previous 23:59Z": "2024-01-14T23:59:59Z",
            "09:59Z": "2024-01-15T09:59:59Z",
            "10:00Z": "2024-01-15T10:00:00Z",
            "16th 09:59Z": "2024-01-16T09:59:59Z",
            "16th 10:00Z": "2024-01-16T10:00:00Z",
        }
        for name, at in instants.items():
            event = await post_event(
                http, admin, type="deployment", service="web", title=name, occurred_at=at
            )
            made[name] = str(event["id"])
        made["now"] = await create(http, admin, CREATE_EXAMPLE)
        today = (await http.get(f"{BASE}/events/today", headers=admin)).json()
        assert [e["id"] for e in today["events"]] == [made[n] for n in expected]
        assert (today["total"], today["page"], today["per_page"]) == (3, 1, 10)
        second = await ids(http, admin, f"{BASE}/events/today?per_page=2&page=2")
        assert second == [made[expected[2]]]


async def test_restricted_events_are_hidden_from_outsiders(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create_group(http, admin, "ops")
    role = {
        "name": "deleter",
        "permissions": ["events:read", "events:list", "events:write", "events:delete"],
    }
    assert (await http.post("/api/v1/roles", headers=admin, json=role)).status_code == 201
    outsider = bearer(await create_service_account(http, admin, "outsider", roles=["deleter"]))
    reader = bearer(await create_service_account(http, admin, "viewer", roles=["reader"]))
    insider = bearer(
        await create_service_account(http, admin, "insider", roles=["reader"], groups=["ops"])
    )
    public = await create(http, admin, CREATE_EXAMPLE)
    hidden = {"service": "vault", "environment": "production", "allowed_groups": ["ops"]}
    secret = str((await post_event(http, admin, type="deployment", **hidden))["id"])
    urls = [f"{BASE}/events/list", f"{BASE}/events/search?type=1", f"{BASE}/events/today"]
    for headers in (outsider, reader):
        assert (await http.get(f"{BASE}/event/{secret}", headers=headers)).status_code == 404
        for url in urls:
            page = (await http.get(url, headers=headers)).json()
            assert ([x["id"] for x in page["events"]], page["total"]) == ([public], 1), url
    for url in urls:
        assert await ids(http, insider, url) == [secret, public], url
    put = await http.put(f"{BASE}/event", headers=outsider, json={"id": secret, "title": "x"})
    assert put.status_code == 404
    assert (await http.delete(f"{BASE}/event/{secret}", headers=outsider)).status_code == 404
    assert (await get(http, insider, secret))["attributes"]["service"] == "vault"
    assert (await http.delete(f"{BASE}/event/{public}", headers=outsider)).status_code == 204


async def test_native_and_tracker_events_are_the_same_events(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    native = await post_event(
        http, admin, type="deployment", service="billing", environment="production", title="n"
    )
    other = await post_event(http, admin, type="CREATE_STATE_PROJECT", environment="staging")
    tracker_id = await create(http, admin, CREATE_EXAMPLE)
    found = (await http.get(f"{BASE}/events/search?type=1&environment=7", headers=admin)).json()
    assert [e["id"] for e in found["events"]] == [tracker_id, str(native["id"])]
    shown = found["events"][1]
    assert (shown["eventType"], shown["title"], shown["links"]) == ("deployment", "n", {})
    assert shown["attributes"] == EMPTY_ATTRIBUTES | {
        "type": 1,
        "service": "billing",
        "environment": 7,
    }
    foreign = await get(http, admin, str(other["id"]))
    assert (foreign["eventType"], foreign["attributes"]["type"]) == ("CREATE_STATE_PROJECT", None)
    assert foreign["attributes"]["environment"] is None
    data = (await http.get(f"/api/v1/events/{tracker_id}", headers=admin)).json()["data"]
    assert {k: data[k] for k in ("trigger_ref", "service", "environment", "status", "owner")} == {
        "trigger_ref": "deployment",
        "service": "user-service",
        "environment": "production",
        "status": "success",
        "owner": "platform-team",
    }
    assert (data["title"], data["message"], data["links"]) == (
        CREATE_EXAMPLE["title"],
        "Deployed via GitHub Actions",
        CREATE_EXAMPLE["links"],
    )
