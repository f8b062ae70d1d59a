"""The rule engine inside ingest: enforcements and executions committed with the event."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import bindparam as sa_bindparam
from sqlalchemy import select, text

from tests.api.helpers import create_group, create_service_account, post_event
from tidings.services.rule_engine import EXECUTION_SECRETS, PACK_SECRETS
from tidings.services.runtime import Services
from tidings.storage import catalogue as catalogue_store
from tidings.storage.automation_tables import actions, executions, rules
from tidings.workers.factory import build_worker_pool

SECRET = "xoxb-very-secret-token"


async def _tenant_id(services: Services) -> int:
    async with services.db.read() as conn:
        return int(
            (await conn.execute(text("SELECT id FROM tenants WHERE name = 'default'"))).scalar_one()
        )


async def _catalogue(services: Services, *, schema: dict[str, Any] | None = None) -> dict[str, int]:
    """A pack `mon` (config with a secret), a trigger `mon.cpu`, an action `mon.notify`."""
    tenant_id = await _tenant_id(services)
    async with services.db.transaction() as conn:
        pack = await catalogue_store.insert_pack(
            conn,
            tenant_id=tenant_id,
            values={
                "ref": "mon",
                "label": "Monitoring",
                "config": {"channel": "#ops"},
                "secrets": services.box.seal(
                    {"token": SECRET}, purpose=PACK_SECRETS, tenant_id=tenant_id
                ),
            },
            now=1,
        )
        trigger_id = await catalogue_store.insert_trigger(
            conn,
            tenant_id=tenant_id,
            values={"pack_id": pack.id, "ref": "mon.cpu", "label": "CPU", "payload_schema": schema},
            now=1,
        )
        action_id = await catalogue_store.insert_action(
            conn,
            tenant_id=tenant_id,
            values={"pack_id": pack.id, "ref": "mon.notify", "label": "Notify", "runner": "noop"},
            now=1,
        )
    return {"tenant": tenant_id, "pack": pack.id, "trigger": trigger_id, "action": action_id}


async def _rule(
    services: Services,
    ids: dict[str, int],
    ref: str,
    *,
    conditions: Any,
    params: Any = None,
    enabled: bool = True,
    strict: bool = False,
) -> int:
    async with services.db.transaction() as conn:
        result = await conn.execute(
            rules.insert().returning(rules.c.id),
            {
                "tenant_id": ids["tenant"],
                "pack_id": ids["pack"],
                "ref": ref,
                "label": ref,
                "description": ref,
                "action_id": ids["action"],
                "trigger_id": ids["trigger"],
                "conditions": conditions,
                "action_params": params or {},
                "enabled": enabled,
                "strict_params": strict,
                "created_at": 1,
                "updated_at": 1,
            },
        )
        await catalogue_store.bump_version(conn, tenant_id=ids["tenant"])
        return int(result.scalar_one())


async def _executions(services: Services) -> list[Any]:
    async with services.db.read() as conn:
        return list(await conn.execute(select(executions).order_by(executions.c.id)))


async def test_every_rule_of_the_trigger_is_recorded_and_the_match_is_queued(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    hot = await _rule(
        services,
        ids,
        "mon.hot",
        conditions={"and": [{"var": "event.cpu", ">=": 90}, {"var": "host", "==": "db1"}]},
        params={
            "cpu": "{{ event.payload.cpu }}",
            "text": "{{ event.host }} at {{ event.cpu }}% to {{ pack.config.channel }}",
            "token": "{{ pack.config.token }}",
            "upper": "{{ pack.config.token | upper }}",
            "basic": "{{ ('bot:' ~ pack.config.token) | b64encode }}",
            "enforcement": "{{ system.enforcement }}",
        },
    )
    cold = await _rule(services, ids, "mon.cold", conditions={"var": "cpu", "<": 10})
    off = await _rule(services, ids, "mon.off", conditions={}, enabled=False)

    event = await post_event(
        client, admin, trigger_ref="mon.cpu", payload={"cpu": 95, "host": "db1"}
    )
    assert event["trigger"] == ids["trigger"]  # linked to the registered trigger

    listed = await client.get(f"/api/v1/enforcements?event={event['id']}", headers=admin)
    assert listed.status_code == 200
    by_rule = {e["rule"]: e for e in listed.json()["data"]}
    assert {r: (e["condition"], e["status"]) for r, e in by_rule.items()} == {
        hot: ("passed", "scheduled"),
        cold: ("failed", "completed"),
        off: ("skipped", "completed"),
    }
    assert listed.json()["pagination"] == {
        "page": 1,
        "page_size": 50,
        "total_items": 3,
        "total_pages": 1,
        "next_cursor": None,
    }
    detail = (await client.get(f"/api/v1/enforcements/{by_rule[hot]['id']}", headers=admin)).json()
    data = detail["data"]
    assert data["conditions"] == {"$.and[0]": True, "$.and[1]": True}
    assert data["payload"] == {"cpu": 95, "host": "db1"}
    assert data["rule_ref"] == "mon.hot"
    assert data["trigger_ref"] == "mon.cpu"
    assert data["config"] == {
        "cpu": 95,  # a lone expression keeps its JSON type
        "text": "db1 at 95% to #ops",
        "token": "********",
        "upper": "********",  # a transformed secret is masked too: rendered with ******** in it
        "basic": base64.b64encode(b"bot:********").decode(),
        "enforcement": by_rule[hot]["id"],
    }
    cold_detail = (
        await client.get(f"/api/v1/enforcements/{by_rule[cold]['id']}", headers=admin)
    ).json()
    assert cold_detail["data"]["conditions"] == {"$": False}
    assert cold_detail["data"]["config"] is None
    assert cold_detail["data"]["execution"] is None

    [execution] = await _executions(services)
    assert data["execution"] == execution.id
    assert execution.status == "queued"
    assert execution.enforcement_id == by_rule[hot]["id"]
    assert execution.action_ref == "mon.notify"
    assert execution.parameters["token"] == "********"
    real = services.box.open(
        execution.sealed_parameters, purpose=EXECUTION_SECRETS, tenant_id=ids["tenant"]
    )
    assert isinstance(real, dict)
    assert real["token"] == SECRET
    assert real["upper"] == SECRET.upper()
    assert real["basic"] == base64.b64encode(f"bot:{SECRET}".encode()).decode()


async def test_a_rule_change_applies_to_the_next_event(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    rule_id = await _rule(services, ids, "mon.any", conditions={})
    first = await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 1})
    async with services.db.transaction() as conn:
        await conn.execute(rules.update().where(rules.c.id == rule_id).values(enabled=False))
        await catalogue_store.bump_version(conn, tenant_id=ids["tenant"])
    second = await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 1})
    conditions = []
    for event in (first, second):
        page = await client.get(f"/api/v1/enforcements?event={event['id']}", headers=admin)
        conditions.append([e["condition"] for e in page.json()["data"]])
    assert conditions == [["passed"], ["skipped"]]
    assert len(await _executions(services)) == 1


async def test_recording_only_matches(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    await _rule(services, ids, "mon.hot", conditions={"var": "cpu", ">": 50})
    await _rule(services, ids, "mon.cold", conditions={"var": "cpu", "<": 10})
    async with services.db.transaction() as conn:
        await conn.execute(text("UPDATE tenants SET enforcement_recording = 'matches'"))
    await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 70})
    listed = (await client.get("/api/v1/enforcements", headers=admin)).json()["data"]
    assert [(e["rule_ref"], e["condition"]) for e in listed] == [("mon.hot", "passed")]


async def test_a_payload_that_breaks_the_trigger_schema_is_refused_and_not_stored(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    schema = {
        "type": "object",
        "properties": {"cpu": {"type": "number"}},
        "required": ["cpu"],
    }
    ids = await _catalogue(services, schema=schema)
    await _rule(services, ids, "mon.any", conditions={})
    for _ in range(2):  # the second time with the compiled catalogue cached
        bad = await client.post(
            "/api/v1/events",
            headers=admin,
            json={"trigger_ref": "mon.cpu", "payload": {"cpu": "hot"}},
        )
        assert bad.status_code == 400
        assert bad.json() == {
            "error": 'Invalid request data: payload.cpu: "hot" is not of type "number"',
            "status": 400,
            "details": [{"field": "payload.cpu", "message": '"hot" is not of type "number"'}],
        }
    batch = await client.post(
        "/api/v1/events/batch",
        headers=admin,
        json={
            "events": [
                {"trigger_ref": "mon.cpu", "payload": {"cpu": 1}},
                {"trigger_ref": "mon.cpu"},
            ]
        },
    )
    assert batch.status_code == 400
    assert batch.json()["details"] == [
        {"field": "payload", "message": '"cpu" is a required property', "index": 1}
    ]
    events = (await client.get("/api/v1/events?trigger_ref=mon.cpu", headers=admin)).json()
    assert events["pagination"]["total_items"] == 0
    assert await _executions(services) == []
    good = await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 3})
    assert good["payload"] == {"cpu": 3}


async def test_a_schema_relaxed_since_accepts_what_it_refused(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The refusal is decided with the catalogue of the moment, not the one last cached."""
    schema = {"type": "object", "required": ["cpu"]}
    await _catalogue(services, schema=schema)
    refused = await client.post("/api/v1/events", headers=admin, json={"trigger_ref": "mon.cpu"})
    assert refused.status_code == 400, refused.text
    relaxed = await client.put(
        "/api/v1/triggers/mon.cpu", headers=admin, json={"payload_schema": None}
    )
    assert relaxed.status_code == 200, relaxed.text
    accepted = await client.post("/api/v1/events", headers=admin, json={"trigger_ref": "mon.cpu"})
    assert accepted.status_code == 201, accepted.text


async def test_strict_rendering_fails_the_execution_naming_the_path(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    await _rule(
        services,
        ids,
        "mon.strict",
        conditions={},
        params={"text": "{{ event.payload.servce }} {{ pack.config.token }}"},
        strict=True,
    )
    event = await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 1})
    [enforcement] = (
        await client.get(f"/api/v1/enforcements?event={event['id']}", headers=admin)
    ).json()["data"]
    assert (enforcement["condition"], enforcement["status"]) == ("passed", "failed")
    [execution] = await _executions(services)
    assert execution.status == "failed"
    assert execution.error == "$.text: 'event.payload.servce' is undefined"
    assert execution.attempts == 0
    retried = await client.post(f"/api/v1/executions/{execution.id}/retry", headers=admin)
    assert retried.status_code == 409
    assert retried.json()["error"] == (
        f"Execution with ID {execution.id} never ran: its parameters could not be prepared "
        "(see its error), so there is nothing to retry; fix the rule and let the next event run it"
    )


async def test_enforcements_follow_event_visibility(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    await _rule(services, ids, "mon.any", conditions={})
    await create_group(client, admin, "ops")
    outsider = {
        "Authorization": "Bearer "
        + await create_service_account(client, admin, "eve", roles=["reader"])
    }
    insider = {
        "Authorization": "Bearer "
        + await create_service_account(client, admin, "olga", roles=["reader"], groups=["ops"])
    }
    hidden = await post_event(client, admin, trigger_ref="mon.cpu", allowed_groups=["ops"])
    public = await post_event(client, admin, trigger_ref="mon.cpu")
    seen = {}
    for name, headers in (("outsider", outsider), ("insider", insider), ("admin", admin)):
        page = (await client.get("/api/v1/enforcements", headers=headers)).json()
        seen[name] = sorted(e["event"] for e in page["data"])
        assert page["pagination"]["total_items"] == len(seen[name])
    assert seen == {
        "outsider": [public["id"]],
        "insider": [hidden["id"], public["id"]],
        "admin": [hidden["id"], public["id"]],
    }
    hidden_id = (
        await client.get(f"/api/v1/enforcements?event={hidden['id']}", headers=admin)
    ).json()["data"][0]["id"]
    missing = await client.get(f"/api/v1/enforcements/{hidden_id}", headers=outsider)
    assert missing.status_code == 404
    assert missing.json() == {"error": f"Enforcement with ID {hidden_id} not found", "status": 404}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "status=done",
            "Invalid query parameters: status: must be one of pending, scheduled, running, "
            "completed, failed, cancelled",
        ),
        (
            "per_page=101",
            "Invalid query parameters: per_page: Input should be less than or equal to 100",
        ),
        (
            "rule=abc",
            "Invalid query parameters: rule: Input should be a valid integer, unable to parse "
            "string as an integer",
        ),
        (
            "cursor=abc&page=2",
            "Invalid query parameters: cursor: use either page or cursor, not both",
        ),
    ],
)
async def test_enforcement_query_errors(
    client: httpx.AsyncClient, admin: dict[str, str], query: str, message: str
) -> None:
    response = await client.get(f"/api/v1/enforcements?{query}", headers=admin)
    assert response.status_code == 400
    assert response.json()["error"] == message


async def test_enforcement_pages_and_cursor(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    await _rule(services, ids, "mon.a", conditions={"var": "n", ">": 2})
    batch = [{"trigger_ref": "mon.cpu", "payload": {"n": n}} for n in range(5)]
    posted = await client.post("/api/v1/events/batch", headers=admin, json={"events": batch})
    assert posted.status_code == 201
    # One rule: the enforcement of event e is e << 16 (rows for n > 2, compact records below).
    expected = [receipt["id"] << 16 for receipt in posted.json()["data"]]
    first = (await client.get("/api/v1/enforcements?per_page=2", headers=admin)).json()
    assert [e["id"] for e in first["data"]] == [expected[4], expected[3]]
    assert first["pagination"]["total_items"] == 5
    assert first["pagination"]["total_pages"] == 3
    third = (await client.get("/api/v1/enforcements?per_page=2&page=3", headers=admin)).json()
    assert [e["id"] for e in third["data"]] == [expected[0]]
    cursor = first["pagination"]["next_cursor"]
    after = (
        await client.get(f"/api/v1/enforcements?per_page=2&cursor={cursor}", headers=admin)
    ).json()
    assert [e["id"] for e in after["data"]] == [expected[2], expected[1]]
    assert after["pagination"]["total_items"] is None
    failed = (await client.get("/api/v1/enforcements?status=completed", headers=admin)).json()
    assert [e["condition"] for e in failed["data"]] == ["failed", "failed", "failed"]
    by_trigger = (
        await client.get("/api/v1/enforcements?trigger_ref=core.event", headers=admin)
    ).json()
    assert by_trigger["data"] == []


async def test_parameters_that_break_the_action_schema_fail_the_execution_unrun(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    async with services.db.transaction() as conn:
        await conn.execute(
            text("UPDATE actions SET parameters_schema = :schema WHERE id = :id").bindparams(
                sa_bindparam("schema", type_=actions.c.parameters_schema.type)
            ),
            {
                "schema": {"type": "object", "required": ["message"]},
                "id": ids["action"],
            },
        )
        await catalogue_store.bump_version(conn, tenant_id=ids["tenant"])
    await _rule(services, ids, "mon.bad", conditions={}, params={"text": "{{ pack.config.token }}"})
    await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 1})
    [execution] = await _executions(services)
    assert execution.status == "failed"
    assert execution.error == (
        'parameters do not match the action\'s schema: $: "message" is a required property'
    )


async def test_what_an_action_returns_is_redacted_of_the_secrets_it_was_given(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    async with services.db.transaction() as conn:
        await conn.execute(
            text("UPDATE actions SET runner = 'echo' WHERE id = :id"), {"id": ids["action"]}
        )
        await catalogue_store.bump_version(conn, tenant_id=ids["tenant"])
    await _rule(
        services,
        ids,
        "mon.echo",
        conditions={},
        params={"message": "token={{ pack.config.token }}", "plain": "{{ event.cpu }}"},
    )
    pool = build_worker_pool(services)
    await pool.start()
    try:
        await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 7})
        [execution] = await _executions(services)
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            response = await client.get(f"/api/v1/executions/{execution.id}", headers=admin)
            if response.json()["data"]["status"] == "succeeded":
                break
            assert asyncio.get_running_loop().time() < deadline, response.text
            await asyncio.sleep(0.02)
    finally:
        await pool.stop(grace_seconds=0)
    assert SECRET.encode() not in response.content
    data = response.json()["data"]
    assert data["parameters"] == {"message": "token=********", "plain": 7}
    assert SECRET not in orjson.dumps(data["result"]).decode()
    assert "********" in orjson.dumps(data["result"]).decode()


async def test_the_recording_setting_is_read_and_changed_through_the_api(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    await _rule(services, ids, "mon.cold", conditions={"var": "cpu", "<": 10})
    reader = {
        "Authorization": "Bearer "
        + await create_service_account(client, admin, "rita", roles=["reader"])
    }
    assert (await client.get("/api/v1/automation/settings", headers=reader)).json() == {
        "data": {"enforcement_recording": "all"}
    }
    refused = await client.put(
        "/api/v1/automation/settings", headers=reader, json={"enforcement_recording": "matches"}
    )
    assert refused.status_code == 403
    bad = await client.put(
        "/api/v1/automation/settings", headers=admin, json={"enforcement_recording": "some"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == (
        "Invalid request data: enforcement_recording: Input should be 'all' or 'matches'"
    )
    await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 70})
    changed = await client.put(
        "/api/v1/automation/settings", headers=admin, json={"enforcement_recording": "matches"}
    )
    assert changed.json() == {
        "data": {"enforcement_recording": "matches"},
        "message": "Automation settings updated successfully",
    }
    await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 70})
    listed = (await client.get("/api/v1/enforcements", headers=admin)).json()["data"]
    assert len(listed) == 1  # the first event's failed evaluation; none for the second


async def test_the_action_schema_defaults_fill_what_the_rule_leaves_out(
    services: Services, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _catalogue(services)
    schema = {
        "type": "object",
        "properties": {
            "channel": {"type": "string", "default": "#alerts"},
            "text": {"type": "string", "default": "a rule matched"},
        },
        "required": ["channel", "text"],
    }
    async with services.db.transaction() as conn:
        await conn.execute(
            actions.update().where(actions.c.id == ids["action"]).values(parameters_schema=schema)
        )
        await catalogue_store.bump_version(conn, tenant_id=ids["tenant"])
    await _rule(services, ids, "mon.bare", conditions={})  # as 001_…txt writes it: no params
    await _rule(services, ids, "mon.some", conditions={}, params={"text": "cpu {{ event.cpu }}"})
    await post_event(client, admin, trigger_ref="mon.cpu", payload={"cpu": 3})
    bare, some = await _executions(services)
    assert (bare.status, bare.parameters) == (
        "queued",
        {"channel": "#alerts", "text": "a rule matched"},
    )
    assert (some.status, some.parameters) == ("queued", {"channel": "#alerts", "text": "cpu 3"})
