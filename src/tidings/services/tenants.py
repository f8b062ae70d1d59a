"""Tenants: creating them (system admins) and provisioning their built-in roles and admin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import BUILTIN_ROLES, Permission, Principal, PrincipalKind, require
from tidings.domain.errors import Conflict, NotFound
from tidings.domain.identity import Account, Tenant
from tidings.services.accounts import IssuedKey, issue_api_key
from tidings.services.admin_base import AdminService, check_name
from tidings.services.builtin_packs import ensure_builtin_packs
from tidings.storage import accounts as account_store
from tidings.storage import roles as role_store
from tidings.storage import tenants as tenant_store


@dataclass(frozen=True)
class NewTenant:
    """A created tenant, with its first admin and that admin's key."""

    tenant: Tenant
    admin: Account
    admin_key: IssuedKey


class TenantAdmin(AdminService):
    """Creates and lists tenants."""

    async def create_tenant(self, principal: Principal, *, name: str) -> NewTenant:
        """A new tenant with the built-in roles and an admin service account holding a key."""
        require(principal, Permission.SYSTEM_ADMIN)
        check_name("name", name)
        async with self._changing(f"Tenant '{name}'") as conn:
            if await tenant_store.find_tenant(conn, name=name) is not None:
                raise Conflict(f"Tenant '{name}' already exists")
            return await provision_tenant(conn, name=name, now=self._clock.now_ns())

    async def list_tenants(self, principal: Principal) -> list[Tenant]:
        """Every tenant."""
        require(principal, Permission.SYSTEM_ADMIN)
        async with self._db.read() as conn:
            return await tenant_store.list_tenants(conn)

    async def get_tenant(self, principal: Principal, *, locator: str) -> Tenant:
        """One tenant by locator: system admins see all, others only their own."""
        async with self._db.read() as conn:
            tenant = await tenant_store.find_tenant(conn, locator=locator)
        if tenant is None or (not principal.is_system_admin and tenant.id != principal.tenant_id):
            raise NotFound(f"Tenant {locator} not found")
        return tenant


async def provision_tenant(
    conn: AsyncConnection,
    *,
    name: str,
    now: int,
    admin_secret: str | None = None,
    system_admin: bool = False,
) -> NewTenant:
    """Create a tenant, its built-in roles and packs, and its `admin` service account with a key."""
    tenant = await tenant_store.insert_tenant(conn, locator=str(uuid.uuid4()), name=name, now=now)
    role_ids = []
    for role_name, permissions in BUILTIN_ROLES.items():
        role = await role_store.insert_role(
            conn,
            tenant_id=tenant.id,
            name=role_name,
            permissions=permissions,
            description=f"Built-in {role_name} role",
            builtin=True,
            now=now,
        )
        if role_name == "admin":
            role_ids.append(role.id)
    if system_admin:
        role = await role_store.insert_role(
            conn,
            tenant_id=tenant.id,
            name="system-admin",
            permissions=[Permission.SYSTEM_ADMIN.value],
            description="Manages tenants",
            builtin=True,
            now=now,
        )
        role_ids.append(role.id)
    admin = await account_store.insert_account(
        conn,
        tenant_id=tenant.id,
        kind=PrincipalKind.SERVICE,
        name="admin",
        locator=str(uuid.uuid4()),
        password_hash=None,
        display_name="Administrator",
        now=now,
    )
    await account_store.set_account_roles(conn, account_id=admin.id, role_ids=role_ids)
    key = await issue_api_key(
        conn, account=admin, name="bootstrap", expires_at=None, now=now, secret=admin_secret
    )
    await ensure_builtin_packs(conn, tenant_id=tenant.id, now=now)
    return NewTenant(tenant=tenant, admin=admin, admin_key=key)
