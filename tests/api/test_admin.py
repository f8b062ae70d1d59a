"""The admin API: tenants, users, service accounts, roles, groups and API keys."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import bearer, create_group, create_service_account


async def test_user_lifecycle(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await create_group(client, admin, "ops")
    body = {
        "name": "bob",
        "password": "a long enough password",
        "display_name": "Bob",
        "roles": ["writer"],
        "groups": ["ops"],
    }
    created = await client.post("/api/v1/users", headers=admin, json=body)
    assert created.status_code == 201
    data = created.json()["data"]
    assert (data["name"], data["kind"], data["roles"], data["groups"]) == (
        "bob",
        "user",
        ["writer"],
        ["ops"],
    )
    assert (await client.post("/api/v1/users", headers=admin, json=body)).status_code == 409
    users = (await client.get("/api/v1/users", headers=admin)).json()["data"]
    assert [u["name"] for u in users] == ["bob"]
    services = (await client.get("/api/v1/service-accounts", headers=admin)).json()["data"]
    assert [s["name"] for s in services] == ["admin"]
    group = (await client.get("/api/v1/groups/ops", headers=admin)).json()["data"]
    assert group["members"] == ["bob"]
    updated = await client.patch(
        "/api/v1/accounts/bob", headers=admin, json={"roles": ["reader"], "display_name": "Robert"}
    )
    assert (updated.json()["data"]["roles"], updated.json()["data"]["display_name"]) == (
        ["reader"],
        "Robert",
    )
    assert (await client.delete("/api/v1/accounts/bob", headers=admin)).status_code == 204
    assert (await client.get("/api/v1/accounts/bob", headers=admin)).status_code == 404
    assert (await client.get("/api/v1/groups/ops", headers=admin)).json()["data"]["members"] == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/users", {"name": "u1", "password": "short"}, "password"),
        ("/api/v1/users", {"name": "u1"}, "password"),
        ("/api/v1/users", {"name": "bad name", "password": "long enough password"}, "name"),
        (
            "/api/v1/users",
            {"name": "u1", "password": "long enough password", "roles": ["nope"]},
            "roles",
        ),
        (
            "/api/v1/users",
            {"name": "u1", "password": "long enough password", "groups": ["nope"]},
            "groups",
        ),
        (
            "/api/v1/service-accounts",
            {"name": "s1", "password": "long enough password"},
            "password",
        ),
        ("/api/v1/roles", {"name": "r1", "permissions": ["events:fly"]}, "permissions[0]"),
        ("/api/v1/roles", {"name": "r1", "permissions": []}, "permissions"),
        ("/api/v1/groups", {"name": ""}, "name"),
        ("/api/v1/tenants", {"name": "has space"}, "name"),
        ("/api/v1/tokens", {"name": "k", "account": "ghost"}, None),
    ],
)
async def test_invalid_admin_requests(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    path: str,
    body: dict[str, object],
    field: str | None,
) -> None:
    response = await client.post(path, headers=admin, json=body)
    if field is None:
        assert response.status_code == 404
        assert response.json() == {"error": "Account 'ghost' not found", "status": 404}
        return
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field


async def test_roles(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    roles = (await client.get("/api/v1/roles", headers=admin)).json()["data"]
    assert {r["name"]: r["builtin"] for r in roles} == {
        "admin": True,
        "operator": True,
        "reader": True,
        "system-admin": True,
        "writer": True,
    }
    created = await client.post(
        "/api/v1/roles", headers=admin, json={"name": "ingest", "permissions": ["events:write"]}
    )
    assert created.json()["data"]["permissions"] == ["events:write"]
    assert (await client.delete("/api/v1/roles/ingest", headers=admin)).status_code == 204
    assert (await client.delete("/api/v1/roles/ingest", headers=admin)).status_code == 404
    builtin = await client.delete("/api/v1/roles/reader", headers=admin)
    assert builtin.status_code == 409


async def test_tenant_admins_cannot_mint_system_admins(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    tenant = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    assert tenant.status_code == 201
    acme = bearer(tenant.json()["data"]["admin_token"]["token"])
    assert tenant.json()["data"]["admin_token"]["account"] == "admin"
    role = await client.post(
        "/api/v1/roles", headers=acme, json={"name": "root", "permissions": ["system:admin"]}
    )
    assert role.status_code == 403
    assert (
        await client.post("/api/v1/tenants", headers=acme, json={"name": "evil"})
    ).status_code == 403
    again = await client.post("/api/v1/tenants", headers=admin, json={"name": "acme"})
    assert again.status_code == 409
    tenants = (await client.get("/api/v1/tenants", headers=admin)).json()["data"]
    assert [t["name"] for t in tenants] == ["default", "acme"]


async def test_group_membership(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await create_group(client, admin, "ops")
    await create_service_account(client, admin, "bot")
    for _ in range(2):  # adding twice is not an error
        added = await client.post(
            "/api/v1/groups/ops/members", headers=admin, json={"account": "bot"}
        )
        assert added.status_code == 204
    assert (await client.get("/api/v1/groups/ops", headers=admin)).json()["data"]["members"] == [
        "bot"
    ]
    assert (await client.get("/api/v1/accounts/bot", headers=admin)).json()["data"]["groups"] == [
        "ops"
    ]
    removed = await client.delete("/api/v1/groups/ops/members/bot", headers=admin)
    assert removed.status_code == 204
    assert (await client.get("/api/v1/groups/ops", headers=admin)).json()["data"]["members"] == []
    missing = await client.post(
        "/api/v1/groups/nope/members", headers=admin, json={"account": "bot"}
    )
    assert missing.status_code == 404
    assert (await client.delete("/api/v1/groups/ops", headers=admin)).status_code == 204
    assert (await client.get("/api/v1/groups", headers=admin)).json()["data"] == []


async def test_self_service(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    key = bearer(await create_service_account(client, admin, "bot", roles=["reader"]))
    me = await client.get("/api/v1/accounts/bot", headers=key)
    assert me.status_code == 200
    assert (await client.get("/api/v1/accounts/admin", headers=key)).status_code == 403
    own = await client.post("/api/v1/tokens", headers=key, json={"name": "second"})
    assert own.status_code == 201
    assert own.json()["data"]["account"] == "bot"
    mine = (await client.get("/api/v1/tokens", headers=key)).json()["data"]
    assert sorted(k["name"] for k in mine) == ["key", "second"]
    others = await client.get("/api/v1/tokens?account=admin", headers=key)
    assert others.status_code == 403
    escalate = await client.patch("/api/v1/accounts/bot", headers=key, json={"roles": ["admin"]})
    assert escalate.status_code == 403
    admin_keys = (await client.get("/api/v1/tokens?account=admin", headers=admin)).json()["data"]
    stolen = await client.delete(f"/api/v1/tokens/{admin_keys[0]['id']}", headers=key)
    assert stolen.status_code == 403
    assert (await client.delete("/api/v1/accounts/admin", headers=admin)).status_code == 400


async def test_service_accounts_have_no_password(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post("/api/v1/service-accounts", headers=admin, json={"name": "svc"})
    assert created.json()["data"]["has_password"] is False
    read = await client.get("/api/v1/accounts/svc", headers=admin)
    assert read.json()["data"]["has_password"] is False


async def test_an_admin_cannot_lock_itself_out(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    changes: list[dict[str, object]] = [{"roles": []}, {"is_active": False}]
    for change in changes:
        response = await client.patch("/api/v1/accounts/admin", headers=admin, json=change)
        assert response.status_code == 400
        assert response.json()["error"] == (
            "Invalid request data: name: "
            "an account cannot change its own roles or deactivate itself"
        )
    assert (await client.get("/api/v1/users", headers=admin)).status_code == 200


async def test_role_changes_bump_updated(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = (
        await client.post("/api/v1/service-accounts", headers=admin, json={"name": "svc"})
    ).json()
    changed = await client.patch("/api/v1/accounts/svc", headers=admin, json={"roles": ["reader"]})
    assert changed.json()["data"]["updated"] > created["data"]["updated"]


async def test_a_new_password_ends_old_sessions(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    old, new = "the first password", "the second password"
    await client.post(
        "/api/v1/users", headers=admin, json={"name": "carol", "password": old, "roles": ["reader"]}
    )
    tokens = (
        await client.post("/api/v1/auth/login", json={"username": "carol", "password": old})
    ).json()["data"]
    me = bearer(tokens["access_token"])
    assert (
        await client.patch("/api/v1/accounts/carol", headers=me, json={"password": new})
    ).status_code == 200
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (
        await client.post("/api/v1/auth/login", json={"username": "carol", "password": old})
    ).status_code == 401
    assert (
        await client.post("/api/v1/auth/login", json={"username": "carol", "password": new})
    ).status_code == 200
