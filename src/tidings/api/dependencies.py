"""FastAPI dependencies, as `Annotated` aliases routes declare by type.

They are `async def` although they do not await: FastAPI runs a plain `def` dependency in its
thread pool, three thread hops per request that halved the request rate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tidings.domain.access import Principal
from tidings.domain.errors import Unauthenticated
from tidings.services.runtime import Services


async def get_services(request: Request) -> Services:
    """The process's services, attached to the app at start."""
    services: Services = request.app.state.services
    return services


async def get_principal(request: Request) -> Principal:
    """The caller resolved by the authentication middleware."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise Unauthenticated("Missing bearer token")
    return principal


async def get_request_id(request: Request) -> str:
    """This request's id (also sent back as `X-Request-Id`)."""
    return str(request.scope.get("state", {}).get("request_id", ""))


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
