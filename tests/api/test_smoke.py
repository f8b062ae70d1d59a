"""The smallest round trip: record an event and read it back, on both engines."""

from __future__ import annotations

import httpx


async def test_event_round_trip(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = await client.post(
        "/api/v1/events",
        headers=admin,
        json={"trigger_ref": "core.webhook_received", "payload": {"commit": "abc123"}},
    )
    assert created.status_code == 201
    event_id = created.json()["data"]["id"]
    fetched = await client.get(f"/api/v1/events/{event_id}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json()["data"]["payload"] == {"commit": "abc123"}
    assert fetched.headers["x-request-id"] != created.headers["x-request-id"]
