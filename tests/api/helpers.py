"""Small request helpers shared by the API suites."""

from __future__ import annotations

from typing import Any

import httpx


def bearer(token: str) -> dict[str, str]:
    """Authorization headers for a token."""
    return {"Authorization": f"Bearer {token}"}


async def create_service_account(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    name: str,
    *,
    roles: list[str] | None = None,
    groups: list[str] | None = None,
) -> str:
    """A service account with the given roles and groups; returns a fresh API key for it."""
    body = {"name": name, "roles": roles or [], "groups": groups or []}
    created = await client.post("/api/v1/service-accounts", headers=admin, json=body)
    assert created.status_code == 201, created.text
    token = await client.post(
        "/api/v1/tokens", headers=admin, json={"name": "key", "account": name}
    )
    assert token.status_code == 201, token.text
    secret: str = token.json()["data"]["token"]
    return secret


async def create_group(client: httpx.AsyncClient, admin: dict[str, str], name: str) -> None:
    """A group."""
    response = await client.post("/api/v1/groups", headers=admin, json={"name": name})
    assert response.status_code == 201, response.text


async def post_event(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """Record one event and return it."""
    response = await client.post("/api/v1/events", headers=headers, json=fields)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data
