"""Native ingest: one event, batches, idempotency, limits and the dry-run route."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def _total(client: httpx.AsyncClient, admin: dict[str, str]) -> int:
    body = (await client.get("/api/v1/events", headers=admin)).json()
    total: int = body["pagination"]["total_items"]
    return total


async def test_create_returns_the_stored_event(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {
        "type": "deployment",  # alias of trigger_ref
        "title": "Deploy user-service v2.1.0",
        "payload": {"version": "2.1.0"},
        "service": "user-service",
        "environment": "production",
        "priority": 2,
        "impact": 3,
        "links": {"ticket": "PROJ-456"},
        "stakeholders": ["backend-team"],
        "occurred_at": "2024-01-15T10:00:00.123456789+01:00",
    }
    response = await client.post("/api/v1/events", headers=admin, json=body)
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["trigger_ref"] == data["type"] == "deployment"
    assert data["occurred_at"] == data["created"] == "2024-01-15T09:00:00.123456789Z"
    assert (data["service"], data["environment"], data["priority"], data["impact"]) == (
        "user-service",
        "production",
        2,
        3,
    )
    assert data["request_id"] == response.headers["x-request-id"]
    assert data["actor"] is not None
    fetched = (await client.get(f"/api/v1/events/{data['id']}", headers=admin)).json()["data"]
    assert fetched == data


async def test_batch_is_stored_in_order(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    events = [{"trigger_ref": "t", "payload": {"n": n}} for n in range(1000)]
    response = await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    assert response.status_code == 201
    receipts = response.json()["data"]
    assert receipts[0] == {
        "id": receipts[0]["id"],
        "trigger": None,
        "trigger_ref": "t",
        "source": None,
        "source_ref": None,
        "has_payload": True,
        "created": receipts[0]["created"],
    }
    ids = [r["id"] for r in receipts]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1000
    for n in (0, 1, 500, 998, 999):  # each receipt names the event made from the n-th item
        stored = (await client.get(f"/api/v1/events/{ids[n]}", headers=admin)).json()["data"]
        assert stored["payload"] == {"n": n}
        assert stored["request_id"] == response.headers["x-request-id"]
    assert await _total(client, admin) == 1000


async def test_batch_is_all_or_nothing_and_names_each_bad_item(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    events: list[dict[str, Any]] = [
        {"trigger_ref": "ok"},
        {"trigger_ref": "ok", "priority": 9},
        {"trigger_ref": "ok"},
        {"trigger_ref": "ok", "occurred_at": "not a time"},
    ]
    response = await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    assert response.status_code == 400
    details = response.json()["details"]
    assert [(d["index"], d["field"]) for d in details] == [(1, "priority")]
    events[1]["priority"] = 1
    response = await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    assert response.status_code == 400
    assert [(d["index"], d["field"]) for d in response.json()["details"]] == [(3, "occurred_at")]
    assert await _total(client, admin) == 0


async def test_batch_size_limit(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    events = [{"trigger_ref": "t"}] * 1001
    response = await client.post("/api/v1/events/batch", headers=admin, json={"events": events})
    assert response.status_code == 400
    assert "at most 1000 events" in response.json()["error"]
    empty = await client.post("/api/v1/events/batch", headers=admin, json={"events": []})
    assert empty.status_code == 400


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": "order-42"}
    body = {"trigger_ref": "order.created", "payload": {"order": 42}}
    first = await client.post("/api/v1/events", headers=headers, json=body)
    again = await client.post("/api/v1/events", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _total(client, admin) == 1
    changed = await client.post(
        "/api/v1/events", headers=headers, json={**body, "payload": {"order": 43}}
    )
    assert changed.status_code == 422
    assert "different request" in changed.json()["error"]
    batch = await client.post("/api/v1/events/batch", headers=headers, json={"events": [body]})
    assert batch.status_code == 422  # same key, different endpoint: a different request
    assert await _total(client, admin) == 1


async def test_concurrent_retries_with_one_key_store_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    import asyncio

    headers = {**admin, "Idempotency-Key": "same"}
    body = {"trigger_ref": "t", "payload": {"x": 1}}
    answers = await asyncio.gather(
        *(client.post("/api/v1/events", headers=headers, json=body) for _ in range(10))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["data"]["id"] for a in answers}) == 1
    assert sum(1 for a in answers if "idempotent-replayed" in a.headers) == 9
    assert await _total(client, admin) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "trigger_ref"),
        ({"payload": {}}, "trigger_ref"),
        ({"trigger_ref": ""}, "trigger_ref"),
        ({"trigger_ref": "has space"}, "trigger_ref"),
        ({"type": "has space"}, "trigger_ref"),
        ({"trigger_ref": "a", "type": "b"}, "trigger_ref"),
        ({"trigger_ref": "t", "payload": "text"}, "payload"),
        ({"trigger_ref": "t", "payload": [1]}, "payload"),
        ({"trigger_ref": "t", "priority": "high"}, "priority"),
        ({"trigger_ref": "t", "impact": 4}, "impact"),
        ({"trigger_ref": "t", "trigger": 0}, "trigger"),
        ({"trigger_ref": "t", "occurred_at": "2024-01-15T10:00:00"}, "occurred_at"),
        ({"trigger_ref": "t", "occurred_at": 1705312800}, "occurred_at"),
        ({"trigger_ref": "t", "started_at": "2024-02-30T00:00:00Z"}, "started_at"),
        ({"trigger_ref": "t", "title": "x" * 1001}, "title"),
        ({"trigger_ref": "t", "service": "x" * 256}, "service"),
        ({"trigger_ref": "t", "allowed_groups": ["bad group"]}, "allowed_groups.0"),
        ({"trigger_ref": "t", "colour": "red"}, "colour"),
        ({"trigger_ref": "x" * 201}, "trigger_ref"),
    ],
)
async def test_invalid_events_are_400_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/events", headers=admin, json=body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == 400
    assert answer["details"][0]["field"] == field
    assert answer["error"].startswith("Invalid request data")


async def test_payload_nesting_limit(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    deep: Any = 1
    for _ in range(33):
        deep = {"a": deep}
    response = await client.post(
        "/api/v1/events", headers=admin, json={"trigger_ref": "t", "payload": deep}
    )
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"field": "payload", "message": "nests deeper than 32 levels"}
    ]
    ok = await client.post(
        "/api/v1/events", headers=admin, json={"trigger_ref": "t", "payload": deep["a"]}
    )
    assert ok.status_code == 201


async def test_malformed_json_is_400(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/events",
        headers={**admin, "Content-Type": "application/json"},
        content=b'{"trigger_ref": ',
    )
    assert response.status_code == 400
    assert response.json()["details"][0] == {
        "field": "body",
        "message": "request body is not valid JSON",
    }


async def test_body_size_limit_is_413_before_reading(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    big = {"trigger_ref": "t", "payload": {"blob": "x" * (1024 * 1024)}}
    response = await client.post("/api/v1/events", headers=admin, json=big)
    assert response.status_code == 413
    assert response.json() == {
        "error": "Request body exceeds the limit of 1048576 bytes",
        "status": 413,
    }

    async def chunks() -> Any:  # no Content-Length: counted as it streams in
        yield b'{"trigger_ref": "t", "payload": {"blob": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    streamed = await client.post(
        "/api/v1/events", headers={**admin, "Content-Type": "application/json"}, content=chunks()
    )
    assert streamed.status_code == 413
    assert await _total(client, admin) == 0


async def test_validate_checks_without_storing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    good = await client.post(
        "/api/v1/events/validate", headers=admin, json={"trigger_ref": "t", "payload": {"a": 1}}
    )
    assert good.status_code == 200
    assert good.json()["data"]["id"] is None
    assert good.json()["data"]["payload"] == {"a": 1}
    bad = await client.post("/api/v1/events/validate", headers=admin, json={"trigger_ref": "t t"})
    assert bad.status_code == 400
    assert await _total(client, admin) == 0


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b'{"trigger_ref": "t"}', "text/plain", 415, "Content-Type must be application/json"),
        (b'{"trigger_ref": "t"}', None, 415, "Content-Type must be application/json"),
        (b'{"trigger_ref": "t"}', "application/vnd.api+json", 201, None),
        (b'{"trigger_ref": "t", "payload": {"x": "\\ud800"}}', "application/json", 400, None),
        (b"", "application/json", 400, "Invalid request data: body: a JSON object is required"),
        (b"[1, 2]", "application/json", 400, None),
    ],
)
async def test_bodies_must_be_json_objects(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    content: bytes,
    content_type: str | None,
    status: int,
    message: str | None,
) -> None:
    headers = dict(admin)
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/api/v1/events", headers=headers, content=content)
    assert response.status_code == status, response.text
    if message is not None:
        assert response.json()["error"] == message
    if status == 400:
        assert response.json()["details"][0]["field"] == "body"


async def test_an_idempotency_key_is_bound_to_its_caller(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    from tests.api.helpers import bearer, create_service_account

    other = bearer(await create_service_account(client, admin, "other", roles=["writer"]))
    body = {"trigger_ref": "t"}
    first = await client.post(
        "/api/v1/events", headers={**admin, "Idempotency-Key": "k"}, json=body
    )
    assert first.status_code == 201
    # Another caller reusing the key never receives the first caller's answer.
    second = await client.post(
        "/api/v1/events", headers={**other, "Idempotency-Key": "k"}, json=body
    )
    assert second.status_code == 422
    assert await _total(client, admin) == 1


async def test_one_key_with_different_bodies_in_one_group(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    import asyncio

    headers = {**admin, "Idempotency-Key": "contested"}
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/v1/events", headers=headers, json={"trigger_ref": "t", "payload": {"n": n}}
            )
            for n in range(6)
        ),
        client.post(
            "/api/v1/events", headers=admin, json={"trigger_ref": "t"}
        ),  # no key, same group
    )
    statuses = sorted(a.status_code for a in answers[:6])
    assert statuses == [201, 422, 422, 422, 422, 422]
    assert answers[6].status_code == 201
    assert await _total(client, admin) == 2
