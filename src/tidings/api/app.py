"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from tidings import __version__
from tidings.api.dialects import (
    escapekit,
    escapekit_subscriptions,
    socotra,
    socotra_schedules,
    tracker,
)
from tidings.api.errors import install_error_handlers
from tidings.api.middleware import (
    AuthenticationMiddleware,
    BodyLimitMiddleware,
    RequestIdMiddleware,
)
from tidings.api.routes import (
    admin,
    auth,
    automation_settings,
    catalogue,
    enforcements,
    events,
    executions,
    failed_jobs,
    health,
    rules,
    schedules,
    subscriptions,
    webhooks,
)
from tidings.services.runtime import Services

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
DOCS_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect"})
# Login and refresh are how a caller obtains a credential, so they cannot require one.
CREDENTIAL_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/refresh"})


def public_paths(services: Services) -> frozenset[str]:
    """Paths served without a bearer token."""
    paths = HEALTH_PATHS | CREDENTIAL_PATHS
    if services.settings.public_api_docs:
        paths |= DOCS_PATHS
    return paths


def create_app(services: Services, *, manage_lifecycle: bool = True) -> FastAPI:
    """Build the app around `services`; by default its lifespan starts and stops them."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await services.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await services.stop()

    app = FastAPI(
        title="Tidings",
        version=__version__,
        description="An event platform: a durable, queryable, access-controlled event log.",
        lifespan=lifespan,
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry looks for a configured provider on every request (a
        # tenth of the server's CPU on the event-ingest path); Tidings exports none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    install_error_handlers(app)
    # EscapeKit's /api/v1/events/query/… comes before the native /api/v1/events/{id}, which
    # would otherwise take "query" for an event id (routers match in the order they are added).
    routers = (
        health.router,
        auth.router,
        escapekit.router,
        escapekit_subscriptions.router,
        events.router,
        admin.router,
    )
    automation = (
        rules.router,
        catalogue.router,
        enforcements.router,
        executions.router,
        webhooks.router,
        automation_settings.router,
        schedules.router,
        subscriptions.router,
        failed_jobs.router,
    )
    dialects = (tracker.router, socotra.router, socotra_schedules.router)
    for router in (*routers, *automation, *dialects):
        app.include_router(router)
    _document_bearer_auth(app)

    settings = services.settings
    app.add_middleware(AuthenticationMiddleware, public_paths=public_paths(services))
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        limits={"/api/v1/events/batch": settings.max_batch_body_bytes},
    )
    app.add_middleware(RequestIdMiddleware)
    return app


def _document_bearer_auth(app: FastAPI) -> None:
    """Declare bearer auth in the OpenAPI document so clients and /docs know to send it."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A JWT access token from /api/v1/auth/login, or an API key.",
            }
        }
        for path, operations in schema.get("paths", {}).items():
            if path in HEALTH_PATHS or path in CREDENTIAL_PATHS:
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
