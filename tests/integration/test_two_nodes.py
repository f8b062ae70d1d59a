"""Two nodes on one database: ids never reused, and idempotency holds across nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete

from tests.conftest import ADMIN_TOKEN
from tidings.api.app import create_app
from tidings.services.runtime import Services
from tidings.settings import Settings
from tidings.storage.tables import events

HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def second_node(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """Another process's worth of services on the same database (the first is `services`)."""
    node = Services.build(settings)
    await node.start()
    app = create_app(node, manage_lifecycle=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        yield c
    await node.stop()


async def test_one_key_on_two_nodes_stores_one_event(
    client: httpx.AsyncClient, second_node: httpx.AsyncClient
) -> None:
    headers = {**HEADERS, "Idempotency-Key": "shared-key"}
    body = {"trigger_ref": "t", "payload": {"n": 1}}
    answers = await asyncio.gather(
        *(
            (client if i % 2 else second_node).post("/api/v1/events", headers=headers, json=body)
            for i in range(20)
        )
    )
    assert [a.status_code for a in answers] == [201] * 20
    assert len({a.json()["data"]["id"] for a in answers}) == 1
    listed = (await client.get("/api/v1/events", headers=HEADERS)).json()
    assert listed["pagination"]["total_items"] == 1


async def test_ids_are_never_reused_after_a_delete(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = (await client.post("/api/v1/events", headers=HEADERS, json={"trigger_ref": "t"})).json()
    async with services.db.transaction() as conn:
        await conn.execute(delete(events).where(events.c.id == first["data"]["id"]))
    second = (
        await client.post("/api/v1/events", headers=HEADERS, json={"trigger_ref": "t"})
    ).json()
    assert second["data"]["id"] == first["data"]["id"] + 1


async def test_a_rule_changed_on_one_node_applies_on_the_other_from_the_next_event(
    client: httpx.AsyncClient, second_node: httpx.AsyncClient
) -> None:
    rule = {
        "ref": "core.two_nodes",
        "pack_ref": "core",
        "label": "Two nodes",
        "description": "Evaluated on the other node",
        "action_ref": "core.noop",
        "trigger_ref": "core.event",
        "conditions": {"var": "n", ">": 1},
    }
    created = await client.post("/api/v1/rules", headers=HEADERS, json=rule)
    assert created.status_code == 201, created.text

    async def condition_of_next_event(n: int) -> str:
        posted = await second_node.post(
            "/api/v1/events",
            headers=HEADERS,
            json={"trigger_ref": "core.event", "payload": {"n": n}},
        )
        event_id = posted.json()["data"]["id"]
        page = await second_node.get(f"/api/v1/enforcements?event={event_id}", headers=HEADERS)
        [enforcement] = page.json()["data"]
        return str(enforcement["condition"])

    assert await condition_of_next_event(2) == "passed"  # node B compiled the rule it never saw
    changed = await client.put(
        "/api/v1/rules/core.two_nodes", headers=HEADERS, json={"conditions": {"var": "n", ">": 5}}
    )
    assert changed.status_code == 200
    assert await condition_of_next_event(2) == "failed"  # no waiting: the very next event
    await client.post("/api/v1/rules/core.two_nodes/disable", headers=HEADERS)
    assert await condition_of_next_event(9) == "skipped"
