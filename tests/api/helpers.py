"""Small request helpers shared by the API suites."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from tidings.services.runtime import Services
from tidings.storage import event_stream as stream_store


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


# Rows of events whose writing transaction is not below the stream's horizon yet.
_UNSETTLED_SQL = "SELECT count(*) FROM events WHERE commit_tx >= "  # + the horizon, a constant
_UNSETTLED = text(_UNSETTLED_SQL + f"({stream_store.PG_HORIZON_SQL})")


async def settle(services: Services, timeout: float = 30.0) -> None:
    """Wait until every committed event is below PostgreSQL's stream horizon.

    The horizon is the oldest event writer still running on the server, so a test sharing its
    PostgreSQL server with other Tidings processes (another test run) may find its own, already
    committed events held back for a moment. Waiting for that keeps the assertions exact. On
    SQLite every commit is readable at once.
    """
    if services.db.dialect != "postgresql":
        return
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with services.db.read() as conn:
            if (await conn.execute(_UNSETTLED)).scalar_one() == 0:
                return
        assert asyncio.get_running_loop().time() < deadline, "the stream horizon did not advance"
        await asyncio.sleep(0.01)
