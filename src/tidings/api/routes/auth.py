"""Password login and token refresh (`/api/v1/auth`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.schemas.identity import LoginRequest, RefreshRequest
from tidings.services.auth import TokenPair

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], route_class=JSONRoute)


def _pair(pair: TokenPair) -> dict[str, Any]:
    return {
        "data": {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "Bearer",
            "expires_in": pair.expires_in,
        }
    }


@router.post("/login", summary="Exchange a password for an access and a refresh token")
async def login(body: LoginRequest, services: ServicesDep) -> dict[str, Any]:
    """401 for any wrong combination, without saying which part was wrong."""
    pair = await services.auth.login(
        tenant_name=body.tenant, username=body.username, password=body.password
    )
    return _pair(pair)


@router.post("/refresh", summary="Rotate a refresh token into a new token pair")
async def refresh(body: RefreshRequest, services: ServicesDep) -> dict[str, Any]:
    """Each refresh token works once; a reused one revokes its whole family."""
    return _pair(await services.auth.refresh(body.refresh_token))


@router.post("/logout", status_code=204, summary="Revoke a refresh token and its family")
async def logout(body: RefreshRequest, services: ServicesDep) -> None:
    """Access tokens already issued expire on their own (15 minutes by default)."""
    await services.auth.logout(body.refresh_token)


@router.get("/me", summary="Who the credential belongs to")
async def me(principal: PrincipalDep) -> dict[str, Any]:
    """The caller's account, tenant, permissions, roles and groups."""
    return {
        "data": {
            "locator": principal.locator,
            "name": principal.name,
            "kind": principal.kind.value,
            "tenant": principal.tenant_locator,
            "permissions": sorted(principal.permissions),
            "roles": sorted(principal.roles),
            "groups": sorted(principal.groups),
        }
    }
