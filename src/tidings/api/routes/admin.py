"""Admin API: tenants, users, service accounts, roles, groups and API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.schemas.identity import (
    AccountCreate,
    AccountUpdate,
    GroupCreate,
    MemberAdd,
    RoleCreate,
    TenantCreate,
    TokenCreate,
    account_json,
    group_json,
    key_json,
    role_json,
    tenant_json,
)
from tidings.domain.access import PrincipalKind

router = APIRouter(prefix="/api/v1", tags=["admin"], route_class=JSONRoute)
Name = Annotated[str, Path(min_length=1, max_length=100)]


# --- tenants -------------------------------------------------------------------------------------


@router.get("/tenants", summary="List tenants (system admins)")
async def list_tenants(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Every tenant."""
    return {"data": [tenant_json(t) for t in await services.tenants.list_tenants(principal)]}


@router.post("/tenants", status_code=201, summary="Create a tenant (system admins)")
async def create_tenant(
    body: TenantCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The tenant, and its admin service account's API key (shown this once)."""
    created = await services.tenants.create_tenant(principal, name=body.name)
    return {
        "data": {
            **tenant_json(created.tenant),
            "admin_token": key_json(created.admin_key.key, created.admin_key.secret),
        }
    }


@router.get("/tenants/{locator}", summary="Get a tenant")
async def get_tenant(
    locator: Annotated[str, Path(max_length=36)], services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A system admin sees any tenant; others only their own."""
    return {"data": tenant_json(await services.tenants.get_tenant(principal, locator=locator))}


# --- users and service accounts ------------------------------------------------------------------


async def _create(
    kind: PrincipalKind, body: AccountCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    view = await services.accounts.create_account(
        principal,
        kind=kind,
        name=body.name,
        password=body.password,
        display_name=body.display_name,
        roles=body.roles,
        groups=body.groups,
    )
    return {"data": account_json(view)}


@router.get("/users", summary="List users")
async def list_users(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Users of the caller's tenant."""
    views = await services.accounts.list_accounts(principal, kind=PrincipalKind.USER)
    return {"data": [account_json(v) for v in views]}


@router.post("/users", status_code=201, summary="Create a user")
async def create_user(
    body: AccountCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A user who logs in with a password (at least 12 characters)."""
    return await _create(PrincipalKind.USER, body, services, principal)


@router.get("/service-accounts", summary="List service accounts")
async def list_service_accounts(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Service accounts of the caller's tenant."""
    views = await services.accounts.list_accounts(principal, kind=PrincipalKind.SERVICE)
    return {"data": [account_json(v) for v in views]}


@router.post("/service-accounts", status_code=201, summary="Create a service account")
async def create_service_account(
    body: AccountCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A program's identity; give it API keys with `POST /api/v1/tokens`."""
    return await _create(PrincipalKind.SERVICE, body, services, principal)


@router.get("/accounts/{name}", summary="Get a user or service account")
async def get_account(name: Name, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Admins read any account of their tenant; everyone reads their own."""
    return {"data": account_json(await services.accounts.get_account(principal, name=name))}


@router.patch("/accounts/{name}", summary="Change a user or service account")
async def update_account(
    name: Name, body: AccountUpdate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Everyone may change their own password and display name; the rest needs `admin`."""
    view = await services.accounts.update_account(
        principal,
        name=name,
        password=body.password,
        display_name=body.display_name,
        is_active=body.is_active,
        roles=body.roles,
        groups=body.groups,
    )
    return {"data": account_json(view)}


@router.delete("/accounts/{name}", status_code=204, summary="Delete a user or service account")
async def delete_account(name: Name, services: ServicesDep, principal: PrincipalDep) -> None:
    """Its API keys and refresh tokens stop working at once."""
    await services.accounts.delete_account(principal, name=name)


# --- roles and groups ----------------------------------------------------------------------------


@router.get("/roles", summary="List roles")
async def list_roles(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Built-in and custom roles."""
    return {"data": [role_json(r) for r in await services.roles.list_roles(principal)]}


@router.post("/roles", status_code=201, summary="Create a role")
async def create_role(
    body: RoleCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Permissions are `area:verb` names (or `admin`)."""
    role = await services.roles.create_role(
        principal, name=body.name, permissions=body.permissions, description=body.description
    )
    return {"data": role_json(role)}


@router.delete("/roles/{name}", status_code=204, summary="Delete a custom role")
async def delete_role(name: Name, services: ServicesDep, principal: PrincipalDep) -> None:
    """Built-in roles cannot be deleted (409)."""
    await services.roles.delete_role(principal, name=name)


@router.get("/groups", summary="List groups")
async def list_groups(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Groups of the caller's tenant."""
    return {"data": [group_json(g) for g in await services.groups.list_groups(principal)]}


@router.post("/groups", status_code=201, summary="Create a group")
async def create_group(
    body: GroupCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Events name groups in `allowed_groups` to restrict who sees them."""
    group = await services.groups.create_group(
        principal, name=body.name, description=body.description
    )
    return {"data": group_json(group, [])}


@router.get("/groups/{name}", summary="Get a group and its members")
async def get_group(name: Name, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The group with the names of its members."""
    group, members = await services.groups.get_group(principal, name=name)
    return {"data": group_json(group, members)}


@router.delete("/groups/{name}", status_code=204, summary="Delete a group")
async def delete_group(name: Name, services: ServicesDep, principal: PrincipalDep) -> None:
    """Memberships go with it."""
    await services.groups.delete_group(principal, name=name)


@router.post("/groups/{name}/members", status_code=204, summary="Add a member")
async def add_member(
    name: Name, body: MemberAdd, services: ServicesDep, principal: PrincipalDep
) -> None:
    """Idempotent: adding a member twice is not an error."""
    await services.groups.set_membership(principal, group=name, member=body.account, present=True)


@router.delete("/groups/{name}/members/{account}", status_code=204, summary="Remove a member")
async def remove_member(
    name: Name, account: Name, services: ServicesDep, principal: PrincipalDep
) -> None:
    """Idempotent: removing a non-member is not an error."""
    await services.groups.set_membership(principal, group=name, member=account, present=False)


# --- API keys ------------------------------------------------------------------------------------


@router.get("/tokens", summary="List API keys")
async def list_tokens(
    services: ServicesDep,
    principal: PrincipalDep,
    account: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """Admins see every key of the tenant (or one account's); others see their own."""
    keys = await services.accounts.list_api_keys(principal, account_name=account)
    return {"data": [key_json(k) for k in keys]}


@router.post("/tokens", status_code=201, summary="Create an API key")
async def create_token(
    body: TokenCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The key is in `token` in this answer only; it is stored hashed."""
    issued = await services.accounts.create_api_key(
        principal,
        account_name=body.account,
        name=body.name,
        expires_in_seconds=body.expires_in_seconds,
    )
    return {"data": key_json(issued.key, issued.secret)}


@router.delete("/tokens/{key_id}", summary="Revoke an API key")
async def revoke_token(
    key_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    services: ServicesDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The key stops working on every node within a second."""
    return {"data": key_json(await services.accounts.revoke_api_key(principal, key_id=key_id))}
