"""`POST /api/v1/rules/{ref}/test` (a Tidings extension): a dry run of one rule against a sample
or a stored event, through the rule engine's own compiled catalogue. Nothing is stored or run.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, create_group, create_service_account, post_event
from tests.api.test_rules_contract import CREATE_BODY, T10, install_catalogue, rule_body
from tests.clocks import SettableClock
from tidings.services.rule_engine import PACK_SECRETS
from tidings.services.runtime import Services
from tidings.storage.automation_tables import enforcements, packs

URL = "/api/v1/rules/mypack.notify_on_error/test"


@pytest.fixture
def clock() -> SettableClock:
    """Pinned, so `system.timestamp` renders exactly."""
    return SettableClock(T10)


@pytest.fixture
async def ids(services: Services) -> dict[str, int]:
    """The example catalogue, with a config and a sealed secret on `mypack`."""
    found = await install_catalogue(services)
    sealed = services.box.seal({"api_token": "s3cr3t-token"}, purpose=PACK_SECRETS, tenant_id=1)
    async with services.db.transaction() as conn:
        await conn.execute(
            packs.update()
            .where(packs.c.id == found["mypack"])
            .values(config={"channel": "#ops"}, secrets=sealed)
        )
    return found


async def trial(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], url: str = URL
) -> Any:
    """The dry run's `data`, asserting 200."""
    response = await client.post(url, headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_a_sample_payload_passes_and_renders(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)
    payload = {"severity": 4, "status": "error", "message": "disk full"}
    assert await trial(client, admin, {"payload": payload}) == {
        "rule": "mypack.notify_on_error",
        "enabled": True,
        "condition": "passed",
        "matched": True,
        "conditions": {"$.and[0]": True, "$.and[1]": True},
        "action_ref": "slack.send_message",
        # A lone {{ expression }} keeps its JSON type: severity stays the number 4.
        "parameters": {"channel": "#alerts", "message": "Error detected: disk full", "severity": 4},
        "errors": [],
    }
    failed = await trial(client, admin, {"payload": payload | {"severity": 2}})
    assert (failed["condition"], failed["matched"], failed["parameters"]) == ("failed", False, None)
    assert failed["conditions"] == {"$.and[0]": False, "$.and[1]": True}


async def test_a_disabled_rule_is_evaluated_but_would_not_run(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY | {"enabled": False})
    got = await trial(client, admin, {"payload": {"severity": 3, "status": "error"}})
    assert (got["enabled"], got["condition"], got["matched"]) == (False, "passed", False)
    assert got["parameters"] == {"channel": "#alerts", "message": "Error detected: ", "severity": 3}


async def test_event_fields_system_values_and_redacted_secrets(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    params = {
        "token": "{{ pack.config.api_token }}",
        "auth": "Bearer {{ pack.config.api_token }}",
        "channel": "{{ pack.config.channel }}",
        "kind": "{{ event.type }} from {{ event.service }}",
        "at": "{{ system.timestamp }}",
        "event": "{{ system.event }}",
    }
    conditions = {"and": [{"var": "event.service", "==": "api"}, {"var": "cpu", ">": 90}]}
    body = rule_body(1, conditions=conditions, action_params=params)
    assert (await client.post("/api/v1/rules", headers=admin, json=body)).status_code == 201
    sample = {"payload": {"cpu": 95}, "event": {"service": "api", "source_ref": None}}
    got = await trial(client, admin, sample, url="/api/v1/rules/mypack.rule_01/test")
    assert got["conditions"] == {"$.and[0]": True, "$.and[1]": True}
    assert got["parameters"] == {
        "token": "********",
        "auth": "Bearer ********",
        "channel": "#ops",
        "kind": "core.error_event from api",  # the type defaults to the rule's trigger
        "at": T10,
        "event": None,
    }


async def test_a_strict_rule_reports_the_missing_path(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    params = {"message": "{{ event.payload.servce }}"}
    body = rule_body(1, action_params=params, strict_params=True)
    assert (await client.post("/api/v1/rules", headers=admin, json=body)).status_code == 201
    got = await trial(
        client, admin, {"payload": {"service": "api"}}, "/api/v1/rules/mypack.rule_01/test"
    )
    assert (got["condition"], got["parameters"]) == ("passed", None)
    assert got["errors"] == ["$.message: 'event.payload.servce' is undefined"]


async def test_a_stored_event_visible_to_the_caller(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services, ids: dict[str, int]
) -> None:
    body = CREATE_BODY | {"action_params": {"id": "{{ event.id }}", "svc": "{{ event.service }}"}}
    await client.post("/api/v1/rules", headers=admin, json=body)
    payload = {"severity": 5, "status": "error"}
    event = await post_event(
        client, admin, type="core.error_event", service="billing", payload=payload
    )
    async with services.db.read() as conn:
        recorded = len((await conn.execute(enforcements.select())).all())
    got = await trial(client, admin, {"event_id": event["id"]})
    assert (got["condition"], got["matched"]) == ("passed", True)
    assert got["parameters"] == {"id": event["id"], "svc": "billing"}
    async with services.db.read() as conn:  # a dry run records nothing
        assert len((await conn.execute(enforcements.select())).all()) == recorded
    # An event hidden from the caller, and a missing one, are alike 404.
    await create_group(client, admin, "ops")
    hidden = await post_event(client, admin, type="x", allowed_groups=["ops"])
    reader = bearer(await create_service_account(client, admin, "r", roles=["reader"]))
    for headers, event_id in ((reader, hidden["id"]), (admin, 999)):
        response = await client.post(URL, headers=headers, json={"event_id": event_id})
        assert response.status_code == 404
        assert response.json() == {"error": f"Event with ID {event_id} not found", "status": 404}
    assert (await trial(client, reader, {"event_id": event["id"]}))["matched"] is True


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "payload", "give a sample payload (and event fields) or an event_id"),
        (
            {"event_id": 1, "payload": {}},
            "event_id",
            "give either event_id or a sample payload, not both",
        ),
        ({"event": {"payload": {}}}, "event.payload", "give the payload at the top level"),
        ({"payload": []}, "payload", "Input should be a valid dictionary"),
        ({"event_id": 0}, "event_id", "Input should be greater than or equal to 1"),
        ({"sample": {}}, "sample", "unknown field"),
    ],
)
async def test_refused_bodies(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    ids: dict[str, int],
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)
    response = await client.post(URL, headers=admin, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Invalid request data: {field}: {message}",
        "status": 400,
        "details": [{"field": field, "message": message}],
    }


async def test_a_missing_rule_and_permissions(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    response = await client.post(URL, headers=admin, json={"payload": {}})
    assert response.json() == {"error": "Rule 'mypack.notify_on_error' not found", "status": 404}
    await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)
    role = {"name": "events-only", "permissions": ["events:read"]}
    assert (await client.post("/api/v1/roles", headers=admin, json=role)).status_code == 201
    outsider = bearer(await create_service_account(client, admin, "o", roles=["events-only"]))
    denied = await client.post(URL, headers=outsider, json={"payload": {}})
    assert denied.json() == {"error": "Permission 'automation:read' is required", "status": 403}
