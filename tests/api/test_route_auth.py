"""Every route refuses a request without credentials, except the few that must not."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from tidings.api.app import CREDENTIAL_PATHS, HEALTH_PATHS, create_app
from tidings.services.runtime import Services

PUBLIC = HEALTH_PATHS | CREDENTIAL_PATHS


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def all_routes(services: Services) -> list[tuple[str, str]]:
    """Every (method, path) the app serves: the OpenAPI document's, plus plain top-level routes.

    Included routers are walked through the OpenAPI document, which FastAPI builds from every
    route; a route hidden from the schema is caught by the check that it is not included.
    """
    app = create_app(services, manage_lifecycle=False)
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    for route in app.routes:
        if isinstance(route, Route):
            found.update((m, route.path) for m in route.methods or () if m != "HEAD")
    return sorted(found)


def test_no_route_hides_from_the_schema() -> None:
    from tidings.api.routes import admin, auth, events, health

    for router in (admin.router, auth.router, events.router, health.router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            assert route.include_in_schema, route.path


async def test_every_route_but_health_and_login_requires_credentials(
    client: httpx.AsyncClient, services: Services
) -> None:
    routes = all_routes(services)
    # The enumeration must reach included routers and plain routes alike.
    for known in (
        ("POST", "/api/v1/events"),
        ("GET", "/api/v1/events/{event_id}"),
        ("GET", "/docs"),
    ):
        assert known in routes
    public_seen = set()
    for method, path in routes:
        response = await client.request(method, _concrete(path))
        if path in PUBLIC:
            public_seen.add(path)
            assert response.status_code != 401, (method, path)
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json() == {"error": "Missing bearer token", "status": 401}
    assert public_seen == set(PUBLIC)


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/no/such/route", "/api/v1/nothing"])
async def test_docs_and_unknown_paths_need_credentials_too(
    client: httpx.AsyncClient, admin: dict[str, str], path: str
) -> None:
    assert (await client.get(path)).status_code == 401
    authenticated = await client.get(path, headers=admin)
    assert authenticated.status_code == (404 if "no" in path else 200)


async def test_openapi_declares_bearer_auth(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    schema = (await client.get("/openapi.json", headers=admin)).json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/events"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]
