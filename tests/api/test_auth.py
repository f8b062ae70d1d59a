"""Login, refresh rotation, JWTs, API keys, revocation, and permission checks."""

from __future__ import annotations

import asyncio

import httpx
import jwt
from sqlalchemy import update

from tests.api.helpers import bearer, create_service_account
from tidings.services.runtime import Services
from tidings.storage.tables import api_keys

PASSWORD = "correct horse battery"


async def _user(client: httpx.AsyncClient, admin: dict[str, str], name: str = "alice") -> None:
    body = {"name": name, "password": PASSWORD, "roles": ["reader"]}
    response = await client.post("/api/v1/users", headers=admin, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["has_password"] is True
    assert "password" not in response.json()["data"]


async def _login(client: httpx.AsyncClient, name: str = "alice") -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})


async def test_login_gives_a_working_access_token(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _user(client, admin)
    response = await _login(client)
    assert response.status_code == 200
    tokens = response.json()["data"]
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    me = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["data"]["name"] == "alice"
    assert me.json()["data"]["permissions"] == ["automation:read", "events:list", "events:read"]
    listed = await client.get("/api/v1/events", headers=bearer(tokens["access_token"]))
    assert listed.status_code == 200


async def test_login_failures_look_alike(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await _user(client, admin)
    attempts = [
        {"username": "alice", "password": "wrong password!"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "alice", "password": PASSWORD, "tenant": "nope"},
        {"username": "admin", "password": PASSWORD},  # a service account has no password
    ]
    for body in attempts:
        response = await client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid username or password", "status": 401}


async def test_refresh_rotates_and_a_replay_revokes_the_family(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _user(client, admin)
    first = (await _login(client)).json()["data"]
    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    rotated = second.json()["data"]
    assert rotated["refresh_token"] != first["refresh_token"]
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    # The replay revoked the whole family, so the rotated token is dead too.
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert after.status_code == 401


async def test_logout_revokes_refresh(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await _user(client, admin)
    tokens = (await _login(client)).json()["data"]
    headers = bearer(tokens["access_token"])
    out = await client.post(
        "/api/v1/auth/logout", headers=headers, json={"refresh_token": tokens["refresh_token"]}
    )
    assert out.status_code == 204
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_tampered_or_foreign_jwts_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _user(client, admin)
    token = (await _login(client)).json()["data"]["access_token"]
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-2]}AA"
    assert (await client.get("/api/v1/events", headers=bearer(forged))).status_code == 401
    claims = jwt.decode(token, options={"verify_signature": False})
    other = jwt.encode(claims, "another-secret-of-sufficient-length-0123", algorithm="HS256")
    assert (await client.get("/api/v1/events", headers=bearer(other))).status_code == 401
    none_alg = jwt.encode(claims, key="", algorithm="none")
    assert (await client.get("/api/v1/events", headers=bearer(none_alg))).status_code == 401


async def test_deactivating_a_user_stops_its_tokens(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _user(client, admin)
    token = (await _login(client)).json()["data"]["access_token"]
    assert (await client.get("/api/v1/events", headers=bearer(token))).status_code == 200
    patched = await client.patch("/api/v1/accounts/alice", headers=admin, json={"is_active": False})
    assert patched.status_code == 200
    # The admin change happened on this node, so the cache is dropped at once.
    assert (await client.get("/api/v1/events", headers=bearer(token))).status_code == 401
    assert (await _login(client)).status_code == 401


async def test_revoked_api_key_stops_working(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await create_service_account(client, admin, "ci", roles=["writer"])
    assert (await client.get("/api/v1/events", headers=bearer(key))).status_code == 200
    listed = (await client.get("/api/v1/tokens?account=ci", headers=admin)).json()["data"]
    assert len(listed) == 1
    assert "token" not in listed[0]
    assert key.startswith(listed[0]["prefix"])
    revoked = await client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["data"]["revoked"] is not None
    response = await client.get("/api/v1/events", headers=bearer(key))
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or revoked API key", "status": 401}


async def test_expired_api_key_stops_working(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create_service_account(client, admin, "temp", roles=["reader"])
    issued = await client.post(
        "/api/v1/tokens",
        headers=admin,
        json={"name": "short", "account": "temp", "expires_in_seconds": 60},
    )
    key = issued.json()["data"]["token"]
    assert issued.json()["data"]["expires"] is not None
    assert (await client.get("/api/v1/events", headers=bearer(key))).status_code == 200
    too_short = await client.post(
        "/api/v1/tokens",
        headers=admin,
        json={"name": "x", "account": "temp", "expires_in_seconds": 1},
    )
    assert too_short.status_code == 400


async def test_permissions_are_enforced(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    reader = await create_service_account(client, admin, "reader-bot", roles=["reader"])
    writer = await create_service_account(client, admin, "writer-bot", roles=["writer"])
    nobody = await create_service_account(client, admin, "nobody-bot")
    event = {"trigger_ref": "t"}
    denied = await client.post("/api/v1/events", headers=bearer(reader), json=event)
    assert denied.status_code == 403
    assert denied.json() == {"error": "Permission 'events:write' is required", "status": 403}
    assert (
        await client.post("/api/v1/events", headers=bearer(writer), json=event)
    ).status_code == 201
    assert (await client.get("/api/v1/events", headers=bearer(nobody))).status_code == 403
    assert (await client.get("/api/v1/events/1", headers=bearer(nobody))).status_code == 403
    assert (await client.get("/api/v1/users", headers=bearer(writer))).status_code == 403
    assert (await client.get("/api/v1/tenants", headers=bearer(writer))).status_code == 403


async def test_revocation_on_another_node_takes_effect_within_a_second(
    client: httpx.AsyncClient, admin: dict[str, str], services: Services
) -> None:
    """The cache bound: a change this node did not make is seen within one second."""
    key = await create_service_account(client, admin, "remote", roles=["reader"])
    assert (await client.get("/api/v1/events", headers=bearer(key))).status_code == 200
    async with services.db.transaction() as conn:  # as another node would: straight to the DB
        await conn.execute(update(api_keys).values(revoked_at=1))
    await asyncio.sleep(1.05)
    assert (await client.get("/api/v1/events", headers=bearer(key))).status_code == 401
