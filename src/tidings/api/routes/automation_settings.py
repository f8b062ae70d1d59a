"""The tenant's automation settings on /api/v1/automation/settings."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.domain.automation import EnforcementRecording

router = APIRouter(prefix="/api/v1/automation", tags=["automation"], route_class=JSONRoute)


class AutomationSettingsUpdate(BaseModel):
    """`enforcement_recording`: "all" (every rule evaluated) or "matches" (passed only)."""

    model_config = ConfigDict(extra="forbid")

    enforcement_recording: EnforcementRecording


def _body(recording: EnforcementRecording, message: str | None = None) -> Response:
    body: dict[str, Any] = {"data": {"enforcement_recording": recording.value}}
    if message:
        body["message"] = message
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/settings", summary="The tenant's automation settings")
async def get_settings(services: ServicesDep, principal: PrincipalDep) -> Response:
    """Which enforcements are recorded: `all` (the default) or `matches`."""
    return _body(await services.automation_settings.get(principal=principal))


@router.put("/settings", summary="Change the tenant's automation settings (tenant admins)")
async def put_settings(
    body: AutomationSettingsUpdate, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Applies from the next event, on every node."""
    recording = await services.automation_settings.set(
        principal=principal, recording=body.enforcement_recording
    )
    return _body(recording, "Automation settings updated successfully")
