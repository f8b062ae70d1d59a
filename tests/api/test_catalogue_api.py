"""Packs, triggers and actions over HTTP: envelopes, checks, the built-in packs and secrets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import select

from tests.api.helpers import bearer, create_service_account
from tests.clocks import SettableClock
from tidings.services.pack_config import PURPOSE
from tidings.services.pack_definitions import PackBundle, PackSpec, RuleSpec
from tidings.services.runtime import Services
from tidings.storage.automation_tables import packs

T10 = "2024-01-13T10:00:00Z"
T12 = "2024-01-13T12:00:00Z"
SECRET = "xoxb-4242-the-secret-token"
SECRET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "channel": {"type": "string"},
        "token": {"type": "string", "minLength": 8, "secret": True},
    },
}
CORE_TRIGGERS = [
    "core.cron_timer",
    "core.date_timer",
    "core.event",
    "core.interval_timer",
    "core.webhook_received",
]
BUILTIN_ACTIONS = {
    "core.echo": "echo",
    "core.emit_event": "emit_event",
    "core.http_request": "http_request",
    "core.local_command": "local_command",
    "core.noop": "noop",
    "slack.send_message": "slack",
}


@pytest.fixture
def clock() -> SettableClock:
    """Everything is created at 10:00; updates happen at 12:00."""
    return SettableClock(T10)


async def create(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """POST a catalogue object; its rendering."""
    response = await client.post(path, headers=admin, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_every_tenant_has_the_builtin_packs(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/api/v1/packs", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"page": 1, "per_page": 20, "total": 2, "total_pages": 1}
    core, slack = body["data"]
    assert core == {
        "id": 1,
        "ref": "core",
        "label": "Core",
        "description": "The standard triggers and actions of Tidings.",
        "version": "1.0.0",
        "config": {},
        "secret_fields": [],
        "config_schema": None,
        "builtin": True,
        "created": T10,
        "updated": T10,
    }
    assert (slack["ref"], slack["builtin"], slack["secret_fields"]) == ("slack", True, [])
    assert slack["config_schema"]["properties"]["webhook_url"]["secret"] is True

    triggers = await client.get("/api/v1/triggers?pack_ref=core", headers=admin)
    assert [t["ref"] for t in triggers.json()["data"]] == CORE_TRIGGERS
    actions = await client.get("/api/v1/actions", headers=admin)
    assert {a["ref"]: a["runner"] for a in actions.json()["data"]} == BUILTIN_ACTIONS
    assert actions.json()["pagination"]["total"] == 6

    echo = await client.get("/api/v1/actions/core.echo", headers=admin)
    assert echo.json() == {
        "data": {
            "id": 2,  # core.noop is defined first
            "ref": "core.echo",
            "pack": 1,
            "pack_ref": "core",
            "label": "Echo",
            "description": "Succeeds with its parameters as the result.",
            "runner": "echo",
            "entry_point": None,
            "parameters_schema": {
                "type": "object",
                "properties": {"message": {"description": "Any JSON value to echo."}},
                "required": ["message"],
            },
            "timeout_seconds": None,
            "max_attempts": None,
            "created": T10,
            "updated": T10,
        }
    }


async def test_a_new_tenant_gets_its_own_builtin_packs(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    assert created.status_code == 201, created.text
    acme = bearer(created.json()["data"]["admin_token"]["token"])
    listed = await client.get("/api/v1/packs", headers=acme)
    assert [(p["id"], p["ref"]) for p in listed.json()["data"]] == [(3, "core"), (4, "slack")]


async def test_pack_lifecycle(
    client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    body = {"ref": "mypack", "label": "My pack", "description": "Mine", "version": "0.1.0"}
    response = await client.post("/api/v1/packs", headers=admin, json=body)
    assert response.status_code == 201
    assert response.json() == {
        "data": {
            "id": 3,
            "ref": "mypack",
            "label": "My pack",
            "description": "Mine",
            "version": "0.1.0",
            "config": {},
            "secret_fields": [],
            "config_schema": None,
            "builtin": False,
            "created": T10,
            "updated": T10,
        },
        "message": "Pack created successfully",
    }
    again = await client.post("/api/v1/packs", headers=admin, json=body)
    assert again.json() == {"error": "Pack 'mypack' already exists", "status": 409}

    page = await client.get("/api/v1/packs?page=2&per_page=1", headers=admin)
    assert [p["ref"] for p in page.json()["data"]] == ["mypack"]
    assert page.json()["pagination"] == {"page": 2, "per_page": 1, "total": 3, "total_pages": 3}

    clock.set(T12)
    changes = {"label": "Renamed", "description": None, "config": {"level": 3}}
    updated = await client.put("/api/v1/packs/mypack", headers=admin, json=changes)
    assert updated.status_code == 200
    assert updated.json()["message"] == "Pack updated successfully"
    data = updated.json()["data"]
    assert (data["label"], data["description"], data["version"]) == ("Renamed", None, "0.1.0")
    assert (data["config"], data["created"], data["updated"]) == ({"level": 3}, T10, T12)
    assert (await client.get("/api/v1/packs/mypack", headers=admin)).json()["data"] == data

    deleted = await client.delete("/api/v1/packs/mypack", headers=admin)
    assert deleted.json() == {"success": True, "message": "Pack 'mypack' deleted successfully"}
    gone = await client.get("/api/v1/packs/mypack", headers=admin)
    assert gone.json() == {"error": "Pack 'mypack' not found", "status": 404}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        (
            "DELETE",
            "/api/v1/packs/core",
            None,
            409,
            "Pack 'core' is built in and cannot be deleted",
        ),
        (
            "PUT",
            "/api/v1/packs/slack",
            {"label": "Mine now"},
            409,
            "Pack 'slack' is built in: only its config can be changed",
        ),
        (
            "POST",
            "/api/v1/triggers",
            {"ref": "core.event", "label": "Mine"},
            409,
            "'core.event' is built into pack 'core' and cannot be changed",
        ),
        (
            "PUT",
            "/api/v1/triggers/core.event",
            {"label": "Mine"},
            409,
            "'core.event' is built into pack 'core' and cannot be changed",
        ),
        (
            "DELETE",
            "/api/v1/actions/slack.send_message",
            None,
            409,
            "'slack.send_message' is built into pack 'slack' and cannot be changed",
        ),
        ("GET", "/api/v1/triggers/core.nothing", None, 404, "Trigger 'core.nothing' not found"),
        ("DELETE", "/api/v1/actions/core.nothing", None, 404, "Action 'core.nothing' not found"),
        ("GET", "/api/v1/triggers?pack_ref=nopack", None, 404, "Pack 'nopack' not found"),
        (
            "POST",
            "/api/v1/triggers",
            {"ref": "nopack.t", "label": "T"},
            404,
            "Pack 'nopack' not found",
        ),
        (
            # The given pack_ref and the ref's prefix disagree.
            "POST",
            "/api/v1/actions",
            {"ref": "core.x", "pack_ref": "slack", "label": "X", "runner": "echo"},
            400,
            "Invalid request data: ref: must start with the pack's ref and a dot ('slack.')",
        ),
        (
            "GET",
            "/api/v1/packs?per_page=101",
            None,
            400,
            "Invalid query parameters: per_page: Input should be less than or equal to 100",
        ),
        (
            "POST",
            "/api/v1/packs",
            {"ref": "p", "label": "P", "config_schema": {"type": "nope"}},
            400,
            "Invalid request data: config_schema: is not a valid JSON Schema at /type: "
            "\"nope\" is not valid under any of the schemas listed in the 'anyOf' keyword",
        ),
        (
            "POST",
            "/api/v1/packs",
            {"ref": "p.q", "label": "P"},
            400,
            "Invalid request data: ref: may contain only letters, digits, underscores and hyphens",
        ),
        (
            "POST",
            "/api/v1/packs",
            {
                "ref": "p",
                "label": "P",
                "config": {"n": 1},
                "config_schema": SECRET_SCHEMA | {"additionalProperties": False},
            },
            400,
            "Invalid request data: config: unexpected properties: n",
        ),
        (
            "PUT",
            "/api/v1/packs/slack",
            {"config": {"webhook_url": "ftp://x"}},
            400,
            "Invalid request data: config.webhook_url: does not satisfy the schema's "
            "'pattern' keyword",
        ),
    ],
)
async def test_refusals(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    error: str,
) -> None:
    response = await client.request(method, path, headers=admin, json=body)
    assert (response.status_code, response.json()["error"]) == (status, error)


async def test_trigger_lifecycle(
    client: httpx.AsyncClient, admin: dict[str, str], clock: SettableClock
) -> None:
    await create(client, admin, "/api/v1/packs", {"ref": "mon", "label": "Monitoring"})
    schema = {"type": "object", "required": ["cpu"]}
    body = {"ref": "mon.cpu", "label": "CPU", "payload_schema": schema}
    response = await client.post("/api/v1/triggers", headers=admin, json=body)
    assert response.status_code == 201
    assert response.json() == {
        "data": {
            "id": 6,
            "ref": "mon.cpu",
            "pack": 3,
            "pack_ref": "mon",
            "label": "CPU",
            "description": None,
            "payload_schema": schema,
            "created": T10,
            "updated": T10,
        },
        "message": "Trigger created successfully",
    }
    again = await client.post("/api/v1/triggers", headers=admin, json=body)
    assert again.json() == {"error": "Trigger 'mon.cpu' already exists", "status": 409}

    clock.set(T12)
    cleared = await client.put(
        "/api/v1/triggers/mon.cpu", headers=admin, json={"payload_schema": None}
    )
    assert cleared.json()["message"] == "Trigger updated successfully"
    assert (cleared.json()["data"]["payload_schema"], cleared.json()["data"]["updated"]) == (
        None,
        T12,
    )
    null_label = await client.put("/api/v1/triggers/mon.cpu", headers=admin, json={"label": None})
    assert null_label.json()["error"] == "Invalid request data: label: must not be null"

    listed = await client.get("/api/v1/triggers?pack_ref=mon", headers=admin)
    assert [t["ref"] for t in listed.json()["data"]] == ["mon.cpu"]
    deleted = await client.delete("/api/v1/triggers/mon.cpu", headers=admin)
    assert deleted.json() == {"success": True, "message": "Trigger 'mon.cpu' deleted successfully"}


async def test_action_lifecycle(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await create(client, admin, "/api/v1/packs", {"ref": "ops", "label": "Ops"})
    plugin = {"ref": "ops.page", "label": "Page", "runner": "python"}
    missing = await client.post("/api/v1/actions", headers=admin, json=plugin)
    assert missing.json()["error"] == (
        "Invalid request data: entry_point: is required by the python runner"
    )
    body = {**plugin, "entry_point": "pager", "timeout_seconds": 5, "max_attempts": 3}
    data = await create(client, admin, "/api/v1/actions", body)
    assert {k: data[k] for k in ("runner", "entry_point", "timeout_seconds", "max_attempts")} == {
        "runner": "python",
        "entry_point": "pager",
        "timeout_seconds": 5.0,
        "max_attempts": 3,
    }
    for changes, error in [
        (
            {"runner": "shell"},
            "runner: must be one of noop, echo, http_request, emit_event, slack, local_command, "
            "python",
        ),
        ({"timeout_seconds": 0}, "timeout_seconds: Input should be greater than 0"),
        ({"max_attempts": 21}, "max_attempts: Input should be less than or equal to 20"),
        # Switching away from python leaves an entry point behind: it must be cleared too.
        ({"runner": "echo"}, "entry_point: is only for the python runner"),
    ]:
        refused = await client.put("/api/v1/actions/ops.page", headers=admin, json=changes)
        assert refused.json() == {
            "error": f"Invalid request data: {error}",
            "status": 400,
            "details": [{"field": error.split(":")[0], "message": error.split(": ", 1)[1]}],
        }
    changed = await client.put(
        "/api/v1/actions/ops.page", headers=admin, json={"runner": "echo", "entry_point": None}
    )
    assert (changed.json()["data"]["runner"], changed.json()["data"]["entry_point"]) == (
        "echo",
        None,
    )
    deleted = await client.delete("/api/v1/actions/ops.page", headers=admin)
    assert deleted.json() == {"success": True, "message": "Action 'ops.page' deleted successfully"}


async def test_what_rules_use_cannot_be_deleted(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    await create(client, admin, "/api/v1/packs", {"ref": "src", "label": "Source"})
    await create(client, admin, "/api/v1/triggers", {"ref": "src.hit", "label": "Hit"})

    def rule(ref: str) -> RuleSpec:
        return RuleSpec(ref, ref, "d", "src.hit", "core.noop", {}, {})

    user = PackBundle(PackSpec("user", "User"), rules=(rule("user.a"), rule("user.b")))
    await services.catalogue.install(user, tenant="default")

    used = await client.delete("/api/v1/triggers/src.hit", headers=admin)
    assert used.json() == {"error": "Trigger 'src.hit' is used by 2 rules", "status": 409}
    action = await client.delete("/api/v1/actions/core.noop", headers=admin)
    assert action.status_code == 409  # built in, whether used or not
    pack = await client.delete("/api/v1/packs/src", headers=admin)
    assert pack.json() == {
        "error": "Pack 'src' has triggers or actions used by 2 rules of other packs",
        "status": 409,
    }
    # Deleting the pack of the rules takes them along; then the trigger is free.
    assert (await client.delete("/api/v1/packs/user", headers=admin)).status_code == 200
    assert (await client.delete("/api/v1/triggers/src.hit", headers=admin)).status_code == 200


async def test_reading_needs_automation_read_and_writing_packs_write(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    reader = bearer(await create_service_account(client, admin, "ro", roles=["reader"]))
    operator = bearer(await create_service_account(client, admin, "op", roles=["operator"]))
    assert (await client.get("/api/v1/packs", headers=reader)).status_code == 200
    refused = await client.post("/api/v1/packs", headers=reader, json={"ref": "x", "label": "X"})
    assert refused.json() == {"error": "Permission 'packs:write' is required", "status": 403}
    allowed = await client.post("/api/v1/packs", headers=operator, json={"ref": "x", "label": "X"})
    assert allowed.status_code == 201
    assert (await client.get("/api/v1/packs")).status_code == 401


async def test_secrets_are_sealed_and_never_shown(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    bodies: list[bytes] = []

    async def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await client.request(method, path, headers=admin, json=body)
        bodies.append(response.content)
        return response.json()

    with structlog.testing.capture_logs() as logs:
        config = {"channel": "#ops", "token": SECRET}
        created = await call(
            "POST",
            "/api/v1/packs",
            {"ref": "chat", "label": "Chat", "config": config, "config_schema": SECRET_SCHEMA},
        )
        assert (created["data"]["config"], created["data"]["secret_fields"]) == (
            {"channel": "#ops"},
            ["token"],
        )
        await call("POST", "/api/v1/triggers", {"ref": "chat.said", "label": "Said"})
        await call("POST", "/api/v1/actions", {"ref": "chat.say", "label": "Say", "runner": "echo"})
        # A secret that breaks the schema is refused without being quoted.
        short = await call("PUT", "/api/v1/packs/chat", {"config": {"token": "xoxb-s"}})
        assert short["error"] == (
            "Invalid request data: config.token: does not satisfy the schema's 'minLength' keyword"
        )
        wrong_type = await call("PUT", "/api/v1/packs/chat", {"config": {"token": [SECRET]}})
        assert wrong_type["error"] == "Invalid request data: config.token: must be of type string"
        kept = await call("PUT", "/api/v1/packs/chat", {"config": {"channel": "#dev"}})
        assert (kept["data"]["config"], kept["data"]["secret_fields"]) == (
            {"channel": "#dev"},
            ["token"],
        )
        for path in (
            "/api/v1/packs",
            "/api/v1/packs/chat",
            "/api/v1/triggers",
            "/api/v1/triggers/chat.said",
            "/api/v1/actions?pack_ref=chat",
            "/api/v1/actions/chat.say",
        ):
            await call("GET", path)
        async with services.db.read() as conn:
            row = (
                await conn.execute(select(packs.c.config, packs.c.secrets).where(packs.c.id == 3))
            ).one()
        assert services.box.open(row.secrets, purpose=PURPOSE, tenant_id=1) == {"token": SECRET}
        cleared = await call("PUT", "/api/v1/packs/chat", {"config": {"token": None}})
        assert (cleared["data"]["config"], cleared["data"]["secret_fields"]) == (
            {"channel": "#dev"},
            [],
        )
    assert len(bodies) == 13
    assert [b for b in bodies if SECRET.encode() in b or b"xoxb-s" in b] == []
    assert row.config == {"channel": "#dev"}
    assert SECRET.encode() not in row.secrets
    assert [entry for entry in logs if SECRET in repr(entry)] == []
    async with services.db.read() as conn:
        sealed = (await conn.execute(select(packs.c.secrets).where(packs.c.id == 3))).scalar()
    assert sealed is None


async def test_builtin_pack_config_can_be_set(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = "https://hooks.slack.com/services/T0/B0/secret"
    response = await client.put(
        "/api/v1/packs/slack", headers=admin, json={"config": {"webhook_url": url}}
    )
    assert response.status_code == 200
    assert (response.json()["data"]["config"], response.json()["data"]["secret_fields"]) == (
        {},
        ["webhook_url"],
    )
    assert url.encode() not in response.content
    listed = await client.get("/api/v1/packs", headers=admin)
    assert [p["secret_fields"] for p in listed.json()["data"]] == [[], ["webhook_url"]]


async def test_schema_changes_move_and_drop_secrets(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    plain = {"type": "object"}
    body = {"ref": "p", "label": "P", "config": {"key": "k-1"}, "config_schema": plain}
    assert (await create(client, admin, "/api/v1/packs", body))["config"] == {"key": "k-1"}
    marked = {"type": "object", "properties": {"key": {"secret": True}}}
    moved = await client.put("/api/v1/packs/p", headers=admin, json={"config_schema": marked})
    assert (moved.json()["data"]["config"], moved.json()["data"]["secret_fields"]) == ({}, ["key"])
    # Unmarking a secret discards it rather than revealing it.
    unmarked = await client.put("/api/v1/packs/p", headers=admin, json={"config_schema": plain})
    assert (unmarked.json()["data"]["config"], unmarked.json()["data"]["secret_fields"]) == (
        {},
        [],
    )


async def test_users_add_their_own_triggers_and_actions_to_the_built_in_packs(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # 001_…txt's own first example fires on a `core.error_event` trigger.
    trigger = await client.post(
        "/api/v1/triggers", headers=admin, json={"ref": "core.error_event", "label": "Error"}
    )
    assert trigger.status_code == 201, trigger.text
    assert trigger.json()["data"]["pack_ref"] == "core"
    action = await client.post(
        "/api/v1/actions",
        headers=admin,
        json={"ref": "slack.notify", "label": "Notify", "runner": "slack"},
    )
    assert action.status_code == 201, action.text
    renamed = await client.put(
        "/api/v1/triggers/core.error_event", headers=admin, json={"label": "Errors"}
    )
    assert renamed.json()["data"]["label"] == "Errors"
    deleted = await client.delete("/api/v1/actions/slack.notify", headers=admin)
    assert deleted.status_code == 200
    pack = await client.delete("/api/v1/packs/core", headers=admin)
    assert pack.status_code == 409
