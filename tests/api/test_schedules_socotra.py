"""Socotra's scheduled policy events and failed scheduled events (`seeds/002_…txt`): every endpoint
with the document's fields, enums and status codes, failed jobs made by real failing fires."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, create_service_account
from tests.clocks import SettableClock
from tidings.domain.clock import Clock
from tidings.domain.schedule_times import NS
from tidings.services.runtime import Services
from tidings.services.schedule_fires import ScheduleFirer
from tidings.services.schedule_plans import FailurePolicy

T0 = "2026-03-02T12:00:00Z"
POLICY_EVENT_KEYS = {
    "policyLocator",
    "transactionLocator",
    "triggerState",
    "customEventId",
    "nextEventTime",
}


@pytest.fixture
def clock() -> Clock:
    """Pinned at T0."""
    return SettableClock(T0)


async def base(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """`/event/{tenantLocator}/events/schedules` of the caller's tenant."""
    me = (await client.get("/api/v1/auth/me", headers=headers)).json()["data"]
    return f"/event/{me['tenant']}/events/schedules"


async def schedule(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> None:
    response = await client.post("/api/v1/schedules", headers=admin, json=body)
    assert response.status_code == 201, response.text


async def failing(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    """Three schedules whose 12:01 fire fails (their event breaks its trigger's schema): `a`
    (policy P-1) and `b` retry (queued), `c` (policy P-2) quit on its second failure."""
    for name, policy in (("a", "P-1"), ("b", None), ("c", "P-2")):
        await schedule(
            client,
            admin,
            name=name,
            group="renewals",
            cron="* * * * *",
            policy_locator=policy,
            event={"type": "mon.tick"},
        )
    await client.post("/api/v1/packs", headers=admin, json={"ref": "mon", "label": "Mon"})
    trigger = {"ref": "mon.tick", "label": "Tick", "payload_schema": {"required": ["x"]}}
    assert (await client.post("/api/v1/triggers", headers=admin, json=trigger)).status_code == 201
    firer = ScheduleFirer(
        services.db,
        services.ingest,
        clock=clock,
        failures=FailurePolicy(delays=(30 * NS,), max_failures=2),
    )
    clock.set("2026-03-02T12:01:00Z")
    await firer.fire_due()
    # c's retry comes and fails again: it quits. a and b are paused first so they wait.
    for schedule_id in (1, 2):
        pause = f"/api/v1/schedules/{schedule_id}/pause"
        assert (await client.post(pause, headers=admin)).is_success
    clock.set("2026-03-02T12:01:30Z")
    await firer.fire_due()


def job(name: str, state: str, count: int, updated: str) -> dict[str, Any]:
    return {
        "triggerName": name,
        "failedJobState": state,
        "failureCount": count,
        "triggerGroup": "renewals",
        "updatedAt": updated,
        "createdAt": "2026-03-02T12:01:00Z",
    }


A = job("a", "queued", 1, "2026-03-02T12:01:00Z")
B = job("b", "queued", 1, "2026-03-02T12:01:00Z")
C = job("c", "quit", 2, "2026-03-02T12:01:30Z")


async def test_scheduled_policy_events(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    url = await base(client, admin)
    await schedule(
        client,
        admin,
        name="renewal",
        at="2030-01-01T00:00:00Z",
        policy_locator="P-1",
        transaction_locator="T-1",
        custom_event_id="renewal-offer",
    )
    await schedule(client, admin, name="daily", cron="0 9 * * *", policy_locator="P-1")
    await schedule(client, admin, name="other", cron="0 9 * * *", policy_locator="P-2")
    await client.post("/api/v1/schedules/2/pause", headers=admin)
    response = await client.get(f"{url}/policy/P-1", headers=admin)
    assert response.status_code == 200
    assert response.json() == [
        {
            "policyLocator": "P-1",
            "transactionLocator": "T-1",
            "triggerState": "NORMAL",
            "customEventId": "renewal-offer",
            "nextEventTime": "2030-01-01T00:00:00Z",
        },
        {
            "policyLocator": "P-1",
            "transactionLocator": "",
            "triggerState": "PAUSED",
            "customEventId": "",
            "nextEventTime": "2026-03-03T09:00:00Z",
        },
    ]
    assert set(response.json()[0]) == POLICY_EVENT_KEYS
    assert (await client.get(f"{url}/policy/P-9", headers=admin)).json() == []


async def test_failed_lists(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    await failing(services, client, admin, clock)
    url = await base(client, admin)

    async def listed(path: str) -> Any:
        response = await client.get(url + path, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()

    assert await listed("/tenant/failed/list") == [A, B, C]
    assert await listed("/failed/list") == [A, B, C]
    assert await listed("/failed/list?offset=1&count=1") == [B]
    assert await listed("/tenant/failed/list?offset=2") == [C]
    assert await listed("/failed/queued/list") == [A, B]
    assert await listed("/failed/quit/list") == [C]
    assert await listed("/failed/queued/list?count=1") == [A]
    assert await listed("/policy/P-1/failed/list") == [A]
    assert await listed("/policy/P-2/failed/list") == [C]
    assert await listed("/policy/P-3/failed/list") == []
    states = await listed("/policy/P-2")
    assert states == [
        {
            "policyLocator": "P-2",
            "transactionLocator": "",
            "triggerState": "ERROR",
            "customEventId": "",
            "nextEventTime": None,
        }
    ]


@pytest.mark.parametrize(
    ("path", "field", "message", "location"),
    [
        (
            "/failed/stuck/list",
            "failedJobState",
            "must be one of queued, quit",
            "path parameters",
        ),
        (
            "/failed/list?count=0",
            "count",
            "Input should be greater than or equal to 1",
            "query parameters",
        ),
        (
            "/failed/list?offset=-1",
            "offset",
            "Input should be greater than or equal to 0",
            "query parameters",
        ),
        (
            "/tenant/failed/list?count=1001",
            "count",
            "Input should be less than or equal to 1000",
            "query parameters",
        ),
    ],
)
async def test_bad_parameters_are_400s(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    path: str,
    field: str,
    message: str,
    location: str,
) -> None:
    response = await client.get(await base(client, admin) + path, headers=admin)
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": f"Invalid {location}: {field}: {message}",
            "status": 400,
            "details": [{"field": field, "message": message}],
        },
    )


async def test_resume_a_failed_job(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    await failing(services, client, admin, clock)
    url = await base(client, admin)
    writer = bearer(await create_service_account(client, admin, "w", roles=["writer"]))
    writer_locator = (await client.get("/api/v1/auth/me", headers=writer)).json()["data"]["locator"]
    clock.set("2026-03-02T12:05:00Z")
    resumed = await client.post(
        f"{url}/failed/resume",
        headers=writer,
        json={"triggerName": "c", "triggerGroup": "renewals"},
    )
    assert (resumed.status_code, resumed.content) == (204, b"")
    assert (await client.get(f"{url}/failed/list", headers=admin)).json() == [A, B]
    view = (await client.get("/api/v1/schedules/3", headers=admin)).json()["data"]
    assert {
        k: view[k]
        for k in (
            "state",
            "failure_count",
            "failed_job_state",
            "next_fire_at",
            "resumed_by",
            "resumed_at",
        )
    } == {
        "state": "NORMAL",
        "failure_count": 0,
        "failed_job_state": None,
        "next_fire_at": "2026-03-02T12:05:00Z",
        "resumed_by": writer_locator,
        "resumed_at": "2026-03-02T12:05:00Z",
    }
    unknown = await client.post(
        f"{url}/failed/resume", headers=admin, json={"triggerName": "c", "triggerGroup": "DEFAULT"}
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "No failed job for trigger 'c' in group 'DEFAULT'", "status": 404},
    )


async def test_delete_a_failed_job(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    await failing(services, client, admin, clock)
    url = await base(client, admin)
    clock.set("2026-03-02T12:05:10Z")
    body = {"triggerName": "c", "triggerGroup": "renewals"}
    deleted = await client.request("DELETE", f"{url}/failed", headers=admin, json=body)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await client.get(f"{url}/failed/list", headers=admin)).json() == [A, B]
    assert (await client.get(f"{url}/policy/P-2", headers=admin)).json()[0] == {
        "policyLocator": "P-2",
        "transactionLocator": "",
        "triggerState": "NORMAL",
        "customEventId": "",
        "nextEventTime": "2026-03-02T12:06:00Z",
    }
    again = await client.request("DELETE", f"{url}/failed", headers=admin, json=body)
    assert (again.status_code, again.json()) == (
        404,
        {"error": "No failed job for trigger 'c' in group 'renewals'", "status": 404},
    )
    missing = await client.request(
        "DELETE", f"{url}/failed", headers=admin, json={"triggerName": "c"}
    )
    assert (missing.status_code, missing.json()) == (
        400,
        {
            "error": "Invalid request data: triggerGroup: Field required",
            "status": 400,
            "details": [{"field": "triggerGroup", "message": "Field required"}],
        },
    )


async def test_tenant_locator_and_permissions(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = await base(client, admin)
    bad = await client.get("/event/not-a-uuid/events/schedules/failed/list", headers=admin)
    assert (bad.status_code, bad.json()["details"]) == (
        400,
        [{"field": "tenantLocator", "message": "must be a UUID (8-4-4-4-12 hexadecimal digits)"}],
    )
    response = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    other = bearer(response.json()["data"]["admin_token"]["token"])
    foreign = await client.get(f"{url}/failed/list", headers=other)
    tenant = url.split("/")[2]
    assert (foreign.status_code, foreign.json()) == (
        404,
        {"error": f"Tenant {tenant} not found", "status": 404},
    )
    reader = bearer(await create_service_account(client, admin, "r", roles=["reader"]))
    nobody = bearer(await create_service_account(client, admin, "n"))
    body = {"triggerName": "a", "triggerGroup": "g"}
    assert (await client.get(f"{url}/failed/list", headers=reader)).status_code == 200
    assert (await client.get(f"{url}/policy/P-1", headers=reader)).status_code == 200
    for method, path in (("POST", "/failed/resume"), ("DELETE", "/failed")):
        refused = await client.request(method, url + path, headers=reader, json=body)
        assert (refused.status_code, refused.json()) == (
            403,
            {"error": "Permission 'events:write' is required", "status": 403},
        )
    for path in ("/failed/list", "/tenant/failed/list", "/failed/quit/list", "/policy/P-1"):
        refused = await client.get(url + path, headers=nobody)
        assert (refused.status_code, refused.json()) == (
            403,
            {"error": "Permission 'events:read' is required", "status": 403},
        )
