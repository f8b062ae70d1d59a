"""Attune's event query API (`seeds/000_…txt`): every example request, sent as written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

# The documented event 123, as a producer would have recorded it.
EVENT_123: dict[str, Any] = {
    "trigger": 456,
    "trigger_ref": "core.webhook_received",
    "config": {"endpoint": "/webhooks/github", "method": "POST"},
    "payload": {
        "repository": "attune/platform",
        "action": "push",
        "commit": "abc123",
        "branch": "main",
    },
    "source": 789,
    "source_ref": "github_webhook_sensor",
    "occurred_at": "2024-01-15T10:00:00Z",
}
SUMMARY_KEYS = {"id", "trigger", "trigger_ref", "source", "source_ref", "has_payload", "created"}


@pytest.fixture
async def event_123(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """Events 1..122 of other types, then the document's event 123."""
    filler = [{"trigger_ref": "core.timer", "occurred_at": "2024-01-14T00:00:00Z"}] * 122
    response = await client.post("/api/v1/events/batch", headers=admin, json={"events": filler})
    assert response.status_code == 201
    response = await client.post("/api/v1/events", headers=admin, json=EVENT_123)
    assert response.status_code == 201
    stored: dict[str, Any] = response.json()["data"]
    assert stored["id"] == 123
    return stored


async def test_get_event_by_id(
    client: httpx.AsyncClient, admin: dict[str, str], event_123: dict[str, Any]
) -> None:
    # curl -X GET "http://localhost:8080/api/v1/events/123" -H "Authorization: Bearer <token>"
    response = await client.get("/api/v1/events/123", headers=admin)
    assert response.status_code == 200
    data = response.json()["data"]
    documented = {
        "id": 123,
        "trigger": 456,
        "trigger_ref": "core.webhook_received",
        "config": {"endpoint": "/webhooks/github", "method": "POST"},
        "payload": EVENT_123["payload"],
        "source": 789,
        "source_ref": "github_webhook_sensor",
        "created": "2024-01-15T10:00:00Z",
    }
    assert {k: data[k] for k in documented} == documented
    assert data["updated"] == data["recorded_at"]  # never updated since it was recorded


async def test_list_events_by_trigger_ref(
    client: httpx.AsyncClient, admin: dict[str, str], event_123: dict[str, Any]
) -> None:
    # curl -X GET ".../api/v1/events?trigger_ref=core.webhook_received&page=1&per_page=20"
    response = await client.get(
        "/api/v1/events?trigger_ref=core.webhook_received&page=1&per_page=20", headers=admin
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == [
        {
            "id": 123,
            "trigger": 456,
            "trigger_ref": "core.webhook_received",
            "source": 789,
            "source_ref": "github_webhook_sensor",
            "has_payload": True,
            "created": "2024-01-15T10:00:00Z",
        }
    ]
    pagination = body["pagination"]
    assert {k: pagination[k] for k in ("page", "page_size", "total_items", "total_pages")} == {
        "page": 1,
        "page_size": 20,
        "total_items": 1,
        "total_pages": 1,
    }


@pytest.mark.parametrize(
    ("query", "page_size", "count", "total"),
    [
        ("trigger_ref=core.webhook_received&per_page=10", 10, 1, 1),
        ("trigger_ref=core.webhook_received", 50, 1, 1),
        ("page=1&per_page=50", 50, 50, 123),
        ("", 50, 50, 123),
        ("trigger=456", 50, 1, 1),
        ("source=789", 50, 1, 1),
        ("page=3&per_page=50", 50, 23, 123),
        ("page=4&per_page=50", 50, 0, 123),  # past the end: empty, not an error
    ],
)
async def test_documented_list_queries(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    event_123: dict[str, Any],
    query: str,
    page_size: int,
    count: int,
    total: int,
) -> None:
    response = await client.get(f"/api/v1/events?{query}", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert len(body["data"]) == count
    assert all(set(item) == SUMMARY_KEYS for item in body["data"])
    assert body["pagination"]["page_size"] == page_size
    assert body["pagination"]["total_items"] == total
    assert body["pagination"]["total_pages"] == -(-total // page_size)


async def test_not_found_body_is_exactly_as_documented(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/api/v1/events/999", headers=admin)
    assert response.status_code == 404
    assert response.json() == {"error": "Event with ID 999 not found", "status": 404}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("trigger=abc", "trigger"),
        ("source=-1", "source"),
        ("trigger=99999999999999999999", "trigger"),
        ("start=yesterday", "start"),
        ("end=2024-13-01", "end"),
        ("cursor=garbage", "cursor"),
    ],
)
async def test_invalid_query_parameters_are_400(
    client: httpx.AsyncClient, admin: dict[str, str], query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/events?{query}", headers=admin)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["error"].startswith("Invalid query parameters")
    assert [d["field"] for d in body["details"]] == [field]


@pytest.mark.parametrize("path", ["/api/v1/events/abc", "/api/v1/events/0"])
async def test_invalid_event_ids_are_400(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=admin)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "event_id"


async def test_missing_or_bad_token_is_401(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = await client.get("/api/v1/events", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["status"] == 401


async def test_time_range_filter_and_cursor_paging(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    events = [
        {
            "trigger_ref": "tick",
            "occurred_at": f"2024-03-{day:02d}T12:00:00Z",
            "payload": {"d": day},
        }
        for day in range(1, 31)
    ]
    assert (
        await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    ).status_code == 201
    query = "trigger_ref=tick&start=2024-03-10&end=2024-03-20&per_page=4"
    first = (await client.get(f"/api/v1/events?{query}", headers=admin)).json()
    assert first["pagination"]["total_items"] == 11  # the 10th through the 20th, both inclusive
    days = [item["created"][8:10] for item in first["data"]]
    cursor = first["pagination"]["next_cursor"]
    while cursor:
        page = await client.get(f"/api/v1/events?{query}&cursor={cursor}", headers=admin)
        assert page.status_code == 200
        body = page.json()
        assert body["pagination"]["total_items"] is None  # cursor pages skip the count
        days += [item["created"][8:10] for item in body["data"]]
        cursor = body["pagination"]["next_cursor"]
    assert days == [f"{d:02d}" for d in range(20, 9, -1)]


async def test_a_cursor_is_bound_to_its_filters(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    events = [{"trigger_ref": "a"}, {"trigger_ref": "a"}, {"trigger_ref": "b"}]
    await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    first = (await client.get("/api/v1/events?trigger_ref=a&per_page=1", headers=admin)).json()
    cursor = first["pagination"]["next_cursor"]
    reused = await client.get(f"/api/v1/events?trigger_ref=b&cursor={cursor}", headers=admin)
    assert reused.status_code == 400
    assert reused.json()["details"] == [
        {"field": "cursor", "message": "cursor belongs to a different query"}
    ]
    mixed = await client.get(f"/api/v1/events?trigger_ref=a&page=2&cursor={cursor}", headers=admin)
    assert mixed.status_code == 400
