"""Liveness and readiness: the only routes that answer without credentials."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import JSONResponse

from tidings.api.dependencies import ServicesDep
from tidings.api.routing import JSONRoute

router = APIRouter(tags=["health"], route_class=JSONRoute)


@router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    """Always ok while the process runs."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers", response_model=None)
async def readyz(services: ServicesDep) -> JSONResponse:
    """503 while the database cannot be reached."""
    try:
        async with services.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": services.db.dialect})
