"""The rule API's refusals (`seeds/001_…txt`, "Validation Rules" and the 4xx of each endpoint),
its permissions, tenant isolation, and the catalogue version every change bumps.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, create_service_account
from tests.api.test_rules_contract import CREATE_BODY, install_catalogue, rule_body
from tidings.services.runtime import Services
from tidings.storage import catalogue as catalogue_store
from tidings.storage import tenants as tenant_store

REF_CHARS = "may contain only letters, digits, underscores and hyphens and dots"
IMMUTABLE = "cannot be changed via update; create a new rule instead"


@pytest.fixture
async def ids(services: Services) -> dict[str, int]:
    """The example catalogue in the default tenant."""
    return await install_catalogue(services)


def bad_request(field: str, message: str) -> dict[str, Any]:
    """The 400 body naming one field."""
    return {
        "error": f"Invalid request data: {field}: {message}",
        "status": 400,
        "details": [{"field": field, "message": message}],
    }


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"ref": None}, "ref", "Input should be a valid string"),
        ({"ref": "my pack.rule"}, "ref", REF_CHARS),
        ({"ref": "mypack/rule"}, "ref", REF_CHARS),
        ({"ref": ""}, "ref", "String should have at least 1 character"),
        ({"ref": "r" * 256}, "ref", "String should have at most 255 characters"),
        ({"label": ""}, "label", "String should have at least 1 character"),
        ({"label": "x" * 256}, "label", "String should have at most 255 characters"),
        ({"description": ""}, "description", "String should have at least 1 character"),
        ({"pack_ref": 5}, "pack_ref", "Input should be a valid string"),
        ({"conditions": []}, "conditions", "must be a JSON object ({} means always)"),
        ({"conditions": "true"}, "conditions", "must be a JSON object ({} means always)"),
        (
            {"action_params": [1]},
            "action_params",
            "must be a JSON object (parameter name to value)",
        ),
        ({"enabled": "yes"}, "enabled", "Input should be a valid boolean"),
        ({"enabled": 1}, "enabled", "Input should be a valid boolean"),  # strict: no coercion
        ({"strict_params": "true"}, "strict_params", "Input should be a valid boolean"),
        ({"owner": "me"}, "owner", "unknown field"),
        ({"pack": 1}, "pack", "unknown field"),  # ids are answered, refs are asked
        # A bad condition names the JSON path of the node at fault.
        ({"conditions": {"foo": [1]}}, "conditions", "$.foo: unknown operator 'foo'"),
        (
            {"conditions": {"and": [{"var": "a", "==": 1}, {"!": [1, 2]}]}},
            "conditions",
            "$.and[1].!: takes 0 to 1 arguments, got 2",
        ),
        (
            {"conditions": {"or": [{"var": "a", "==": 1}, {"nope": 1}]}},
            "conditions",
            "$.or[1].nope: unknown operator 'nope'",
        ),
        (
            {"conditions": {"var": "a", ">": 1, "<": 2}},
            "conditions",
            "$: a rule object has exactly one operator, got ['<', '>', 'var']",
        ),
        # A template that does not parse names its JSON path too.
        (
            {"action_params": {"channel": "#a", "message": "Error: {{ event.payload.message "}},
            "action_params",
            "$.message: unexpected end of template, expected 'end of print statement'. (line 1)",
        ),
        (
            {"action_params": {"blocks": [{"text": "ok"}, {"text": "{% if %}"}]}},
            "action_params",
            "$.blocks[1].text: Expected an expression, got 'end of statement block' (line 1)",
        ),
    ],
)
async def test_create_refuses_invalid_bodies(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    ids: dict[str, int],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY | change)
    assert response.status_code == 400
    assert response.json() == bad_request(field, message)
    assert (await client.get("/api/v1/rules", headers=admin)).json()["data"] == []


@pytest.mark.parametrize(
    "missing", ["ref", "pack_ref", "label", "description", "action_ref", "trigger_ref"]
)
async def test_create_requires_the_documented_fields(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int], missing: str
) -> None:
    body = {k: v for k, v in CREATE_BODY.items() if k != missing}
    response = await client.post("/api/v1/rules", headers=admin, json=body)
    assert response.status_code == 400
    assert response.json() == bad_request(missing, "Field required")


async def test_conditions_nested_too_deep_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    deep: dict[str, Any] = {"var": "a"}
    for _ in range(40):
        deep = {"!": [deep]}
    response = await client.post("/api/v1/rules", headers=admin, json=rule_body(1, conditions=deep))
    assert response.status_code == 400
    assert response.json() == bad_request("conditions", "nests deeper than 32 levels")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pack_ref": "nopack"}, "Pack 'nopack' not found"),
        ({"action_ref": "slack.nothing"}, "Action 'slack.nothing' not found"),
        ({"trigger_ref": "core.nothing"}, "Trigger 'core.nothing' not found"),
        # The pack is checked first when several parts are missing.
        ({"pack_ref": "nopack", "trigger_ref": "core.nothing"}, "Pack 'nopack' not found"),
    ],
)
async def test_create_with_a_missing_part_is_404(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    ids: dict[str, int],
    change: dict[str, Any],
    message: str,
) -> None:
    response = await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY | change)
    assert response.status_code == 404
    assert response.json() == {"error": message, "status": 404}


async def test_a_duplicate_ref_is_409(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    assert (await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)).status_code == 201
    again = CREATE_BODY | {"label": "Another", "pack_ref": "security"}
    response = await client.post("/api/v1/rules", headers=admin, json=again)
    assert response.status_code == 409
    assert response.json() == {
        "error": "Rule with ref 'mypack.notify_on_error' already exists",
        "status": 409,
    }
    stored = (await client.get("/api/v1/rules/mypack.notify_on_error", headers=admin)).json()
    assert stored["data"]["label"] == "Notify on Error"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"pack_ref": "security"}, "pack_ref", IMMUTABLE),
        ({"action_ref": "pagerduty.create_incident"}, "action_ref", IMMUTABLE),
        ({"trigger_ref": "auth.login_failure"}, "trigger_ref", IMMUTABLE),
        ({"ref": "mypack.renamed"}, "ref", IMMUTABLE),
        ({"pack_ref": "mypack"}, "pack_ref", IMMUTABLE),  # even to the value it has
        ({"label": None}, "label", "must not be null (leave the field out to keep it)"),
        ({"enabled": None}, "enabled", "must not be null (leave the field out to keep it)"),
        ({"label": ""}, "label", "String should have at least 1 character"),
        ({"conditions": None}, "conditions", "must be a JSON object ({} means always)"),
        (
            {"conditions": {"var": "a", "like": 1}},
            "conditions",
            "$: a rule object has one "
            "operator; with `var`, the second key must be a comparison (!=, !==, <, <=, ==, ===, "
            ">, >=, contains, in), not 'like'",
        ),
        (
            {"action_params": "x"},
            "action_params",
            "must be a JSON object (parameter name to value)",
        ),
        ({"id": 9}, "id", "unknown field"),
    ],
)
async def test_update_refuses_invalid_changes(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    ids: dict[str, int],
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    created = (await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)).json()["data"]
    url = "/api/v1/rules/mypack.notify_on_error"
    response = await client.put(url, headers=admin, json=change)
    assert response.status_code == 400
    assert response.json() == bad_request(field, message)
    assert (await client.get(url, headers=admin)).json() == {"data": created}


async def test_reads_need_automation_read_and_writes_need_rules_write(
    client: httpx.AsyncClient, admin: dict[str, str], ids: dict[str, int]
) -> None:
    assert (await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)).status_code == 201
    role = {"name": "events-only", "permissions": ["events:read", "events:list"]}
    assert (await client.post("/api/v1/roles", headers=admin, json=role)).status_code == 201
    reader = bearer(await create_service_account(client, admin, "reader", roles=["reader"]))
    operator = bearer(await create_service_account(client, admin, "ops", roles=["operator"]))
    outsider = bearer(await create_service_account(client, admin, "out", roles=["events-only"]))
    ref = "mypack.notify_on_error"
    reads = [
        ("GET", "/api/v1/rules", None),
        ("GET", "/api/v1/rules/enabled", None),
        ("GET", "/api/v1/packs/mypack/rules", None),
        ("GET", "/api/v1/actions/slack.send_message/rules", None),
        ("GET", "/api/v1/triggers/core.error_event/rules", None),
        ("GET", f"/api/v1/rules/{ref}", None),
    ]
    writes = [
        ("POST", "/api/v1/rules", rule_body(7)),
        ("PUT", f"/api/v1/rules/{ref}", {"label": "x"}),
        ("POST", f"/api/v1/rules/{ref}/disable", None),
        ("POST", f"/api/v1/rules/{ref}/enable", None),
        ("DELETE", f"/api/v1/rules/{ref}", None),
    ]
    for method, url, body in reads:
        denied = await client.request(method, url, headers=outsider, json=body)
        assert denied.status_code == 403, url
        assert denied.json() == {"error": "Permission 'automation:read' is required", "status": 403}
        assert (await client.request(method, url, headers=reader, json=body)).status_code == 200
    for method, url, body in writes:
        for who in (reader, outsider):
            denied = await client.request(method, url, headers=who, json=body)
            assert denied.status_code == 403, url
            assert denied.json() == {"error": "Permission 'rules:write' is required", "status": 403}
        allowed = await client.request(method, url, headers=operator, json=body)
        assert allowed.status_code == (201 if method == "POST" and body else 200), url
    anonymous = await client.get("/api/v1/rules")
    assert anonymous.status_code == 401


async def test_tenants_never_see_each_others_rules(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services, ids: dict[str, int]
) -> None:
    created = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    assert created.status_code == 201
    acme = bearer(created.json()["data"]["admin_token"]["token"])
    # Before acme has a catalogue of its own, ours is not theirs to use.
    response = await client.post("/api/v1/rules", headers=acme, json=CREATE_BODY)
    assert response.json() == {"error": "Pack 'mypack' not found", "status": 404}
    async with services.db.read() as conn:
        tenant = await tenant_store.find_tenant(conn, name="acme")
    assert tenant is not None
    await install_catalogue(services, tenant.id)
    ours = (await client.post("/api/v1/rules", headers=admin, json=CREATE_BODY)).json()["data"]
    # The same ref in another tenant is no conflict.
    theirs_body = CREATE_BODY | {"label": "Acme's"}
    theirs = await client.post("/api/v1/rules", headers=acme, json=theirs_body)
    assert theirs.status_code == 201
    assert theirs.json()["data"]["label"] == "Acme's"
    url = "/api/v1/rules/mypack.notify_on_error"
    for headers, label in ((admin, "Notify on Error"), (acme, "Acme's")):
        listed = (await client.get("/api/v1/rules", headers=headers)).json()
        assert [r["label"] for r in listed["data"]] == [label]
        assert listed["pagination"]["total"] == 1
        assert (await client.get(url, headers=headers)).json()["data"]["label"] == label
    # Acme's changes touch only acme's rule.
    assert (await client.post(f"{url}/disable", headers=acme)).status_code == 200
    assert (await client.delete(url, headers=acme)).status_code == 200
    assert (await client.get(url, headers=acme)).status_code == 404
    assert (await client.get(url, headers=admin)).json() == {"data": ours}


async def test_every_change_bumps_the_catalogue_version(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services, ids: dict[str, int]
) -> None:
    async def version() -> int:
        async with services.db.read() as conn:
            return await catalogue_store.current_version(conn, tenant_id=1)

    url = "/api/v1/rules/mypack.notify_on_error"
    steps: list[tuple[str, str, dict[str, Any] | None, int]] = [
        ("POST", "/api/v1/rules", CREATE_BODY, 1),
        ("POST", "/api/v1/rules", CREATE_BODY, 0),  # 409: nothing changed
        ("PUT", url, {"label": "x"}, 1),
        ("PUT", url, {"conditions": {"bad": 1}}, 0),  # 400
        ("POST", f"{url}/disable", None, 1),
        ("POST", f"{url}/enable", None, 1),
        ("GET", url, None, 0),
        ("DELETE", url, None, 1),
        ("DELETE", url, None, 0),  # 404
    ]
    for method, path, body, bump in steps:
        before = await version()
        await client.request(method, path, headers=admin, json=body)
        assert await version() == before + bump, (method, path, body)
