"""A rule that emits its own trigger's event stops after MAX_CHAIN emissions instead of looping."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.helpers import post_event
from tidings.services.runtime import Services
from tidings.workers.emitter import MAX_CHAIN
from tidings.workers.factory import build_worker_pool
from tidings.workers.pool import PoolConfig


async def _executions(client: httpx.AsyncClient, admin: dict[str, str]) -> list[dict[str, object]]:
    response = await client.get("/api/v1/executions?per_page=100", headers=admin)
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


async def test_a_rule_that_emits_its_own_trigger_stops(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for path, body in (
        ("/api/v1/packs", {"ref": "loop", "label": "Loop"}),
        ("/api/v1/triggers", {"ref": "loop.tick", "pack_ref": "loop", "label": "Tick"}),
        (
            "/api/v1/rules",
            {
                "ref": "loop.again",
                "pack_ref": "loop",
                "label": "again",
                "description": "emits the event that fires it",
                "action_ref": "core.emit_event",
                "trigger_ref": "loop.tick",
                "conditions": {},
                "action_params": {"trigger_ref": "loop.tick", "payload": {"n": 1}},
            },
        ),
    ):
        response = await client.post(path, headers=admin, json=body)
        assert response.status_code == 201, response.text
    pool = build_worker_pool(services, config=PoolConfig(concurrency=4, poll_seconds=0.2))
    await pool.start()
    try:
        await post_event(client, admin, trigger_ref="loop.tick", payload={"n": 0})
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            found = await _executions(client, admin)
            if len(found) == MAX_CHAIN + 1 and all(
                e["status"] in ("succeeded", "failed") for e in found
            ):
                break
            assert asyncio.get_running_loop().time() < deadline, found
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing more comes
        found = await _executions(client, admin)
    finally:
        await pool.stop(grace_seconds=1)
    assert len(found) == MAX_CHAIN + 1
    statuses = sorted(str(e["status"]) for e in found)
    assert statuses == ["failed"] + ["succeeded"] * MAX_CHAIN
    [last] = [e for e in found if e["status"] == "failed"]
    assert last["error"] == (
        f"refused: this execution descends from {MAX_CHAIN} emitted events already "
        "(a rule that emits its own trigger's event?)"
    )
    events = await client.get("/api/v1/events?per_page=100&type=loop.tick", headers=admin)
    assert events.status_code == 200, events.text
    assert len(events.json()["data"]) == MAX_CHAIN + 1  # the posted one and ten emitted
