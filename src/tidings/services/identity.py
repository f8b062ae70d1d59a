"""Managing tenants, accounts, roles, groups and API keys.

Tenant admins (`admin`) manage their own tenant; system admins (`system:admin`) create tenants.
Every change calls `on_change`, which drops this node's credential cache at once; other nodes
follow within the cache's one-second bound.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import (
    BUILTIN_ROLES,
    Permission,
    Principal,
    PrincipalKind,
    check_permission_name,
    require,
)
from tidings.domain.clock import Clock
from tidings.domain.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from tidings.domain.identity import (
    Account,
    ApiKey,
    Group,
    Role,
    Tenant,
    name_problem,
    password_problem,
)
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services import credentials
from tidings.services.database import Database
from tidings.storage import identity as store


@dataclass(frozen=True)
class AccountView:
    """An account with the names of its roles and groups."""

    account: Account
    roles: list[str]
    groups: list[str]


@dataclass(frozen=True)
class IssuedKey:
    """A new API key: its metadata and the secret, which is shown this once only."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class NewTenant:
    """A created tenant, with its first admin and that admin's key."""

    tenant: Tenant
    admin: Account
    admin_key: IssuedKey


def _check_name(field: str, name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise InvalidInput.of(FieldProblem(field, problem))


class IdentityAdmin:
    """Admin operations, each checked against the calling principal."""

    def __init__(self, db: Database, *, clock: Clock, on_change: Callable[[], None]) -> None:
        self._db = db
        self._clock = clock
        self._on_change = on_change

    @asynccontextmanager
    async def _changing(self, what: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._db.transaction() as conn:
                yield conn
        except IntegrityError:
            raise Conflict(f"{what} already exists") from None
        self._on_change()

    # --- tenants ---------------------------------------------------------------------------------

    async def create_tenant(self, principal: Principal, *, name: str) -> NewTenant:
        """A new tenant with the built-in roles and an admin service account holding a key."""
        require(principal, Permission.SYSTEM_ADMIN)
        _check_name("name", name)
        async with self._changing(f"Tenant '{name}'") as conn:
            if await store.find_tenant(conn, name=name) is not None:
                raise Conflict(f"Tenant '{name}' already exists")
            return await provision_tenant(conn, name=name, now=self._clock.now_ns())

    async def list_tenants(self, principal: Principal) -> list[Tenant]:
        """Every tenant."""
        require(principal, Permission.SYSTEM_ADMIN)
        async with self._db.read() as conn:
            return await store.list_tenants(conn)

    async def get_tenant(self, principal: Principal, *, locator: str) -> Tenant:
        """One tenant by locator: system admins see all, others only their own."""
        async with self._db.read() as conn:
            tenant = await store.find_tenant(conn, locator=locator)
        if tenant is None or (not principal.is_system_admin and tenant.id != principal.tenant_id):
            raise NotFound(f"Tenant {locator} not found")
        return tenant

    # --- accounts --------------------------------------------------------------------------------

    async def create_account(
        self,
        principal: Principal,
        *,
        kind: PrincipalKind,
        name: str,
        password: str | None,
        display_name: str | None,
        roles: Sequence[str],
        groups: Sequence[str],
    ) -> AccountView:
        """A new user (with a password) or service account (without one)."""
        require(principal, Permission.ADMIN)
        _check_name("name", name)
        if kind is PrincipalKind.USER:
            problem = "is required for a user" if password is None else password_problem(password)
            if problem:
                raise InvalidInput.of(FieldProblem("password", problem))
        elif password is not None:
            raise InvalidInput.of(
                FieldProblem("password", "service accounts use API keys, not passwords")
            )
        password_hash = await credentials.hash_password(password) if password else None
        async with self._changing(f"Account '{name}'") as conn:
            if await store.find_account(conn, tenant_id=principal.tenant_id, name=name):
                raise Conflict(f"Account '{name}' already exists")
            role_ids = await self._role_ids(conn, principal, roles)
            group_ids = await self._group_ids(conn, principal, groups)
            account = await store.insert_account(
                conn,
                tenant_id=principal.tenant_id,
                kind=kind,
                name=name,
                locator=str(uuid.uuid4()),
                password_hash=password_hash,
                display_name=display_name,
                now=self._clock.now_ns(),
            )
            await store.set_account_roles(conn, account_id=account.id, role_ids=role_ids)
            await store.set_account_groups(conn, account_id=account.id, group_ids=group_ids)
            return AccountView(account, sorted(set(roles)), sorted(set(groups)))

    async def list_accounts(
        self, principal: Principal, *, kind: PrincipalKind | None
    ) -> list[AccountView]:
        """Accounts of the principal's tenant."""
        require(principal, Permission.ADMIN)
        async with self._db.read() as conn:
            accounts = await store.list_accounts(conn, tenant_id=principal.tenant_id, kind=kind)
            return [await self._view(conn, a) for a in accounts]

    async def get_account(self, principal: Principal, *, name: str) -> AccountView:
        """One account; a principal may always read itself."""
        if principal.name != name:
            require(principal, Permission.ADMIN)
        async with self._db.read() as conn:
            account = await self._account(conn, principal, name)
            return await self._view(conn, account)

    async def update_account(
        self,
        principal: Principal,
        *,
        name: str,
        password: str | None = None,
        display_name: str | None = None,
        is_active: bool | None = None,
        roles: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
    ) -> AccountView:
        """Change an account. Only admins change roles, groups or activity."""
        is_self = principal.name == name
        if not is_self or roles is not None or groups is not None or is_active is not None:
            require(principal, Permission.ADMIN)
        if is_self and (roles is not None or is_active is False):
            # Otherwise the last admin could lock everyone out of the tenant.
            raise InvalidInput.of(
                FieldProblem("name", "an account cannot change its own roles or deactivate itself")
            )
        values: dict[str, object] = {}
        if password is not None:
            problem = password_problem(password)
            if problem:
                raise InvalidInput.of(FieldProblem("password", problem))
            values["password_hash"] = await credentials.hash_password(password)
        if display_name is not None:
            values["display_name"] = display_name
        if is_active is not None:
            values["is_active"] = is_active
        async with self._changing(f"Account '{name}'") as conn:
            account = await self._account(conn, principal, name)
            if password is not None and account.kind is PrincipalKind.SERVICE:
                raise InvalidInput.of(
                    FieldProblem("password", "service accounts use API keys, not passwords")
                )
            now = self._clock.now_ns()
            # Every change bumps `updated`, also one that only touches roles or groups.
            await store.update_account(conn, account_id=account.id, now=now, **values)
            if password is not None:  # a new password ends every session of the old one
                await store.revoke_refresh_tokens_of(conn, account_id=account.id, now=now)
            if roles is not None:
                ids = await self._role_ids(conn, principal, roles)
                await store.set_account_roles(conn, account_id=account.id, role_ids=ids)
            if groups is not None:
                ids = await self._group_ids(conn, principal, groups)
                await store.set_account_groups(conn, account_id=account.id, group_ids=ids)
            fresh = await self._account(conn, principal, name)
            return await self._view(conn, fresh)

    async def delete_account(self, principal: Principal, *, name: str) -> None:
        """Remove an account and everything that authenticates as it."""
        require(principal, Permission.ADMIN)
        if principal.name == name:
            raise InvalidInput.of(FieldProblem("name", "an account cannot delete itself"))
        async with self._changing(f"Account '{name}'") as conn:
            account = await self._account(conn, principal, name)
            await store.delete_account(conn, account_id=account.id)

    # --- roles -----------------------------------------------------------------------------------

    async def create_role(
        self,
        principal: Principal,
        *,
        name: str,
        permissions: Sequence[str],
        description: str | None,
    ) -> Role:
        """A new role. Tenant admins cannot mint `system:admin`."""
        require(principal, Permission.ADMIN)
        _check_name("name", name)
        problems = [
            FieldProblem(f"permissions[{i}]", p)
            for i, perm in enumerate(permissions)
            if (p := check_permission_name(perm))
        ]
        if problems:
            raise InvalidInput.of(*problems)
        if Permission.SYSTEM_ADMIN.value in permissions and not principal.is_system_admin:
            raise Forbidden("Only system admins can grant 'system:admin'")
        async with self._changing(f"Role '{name}'") as conn:
            if await store.find_roles(conn, tenant_id=principal.tenant_id, names=[name]):
                raise Conflict(f"Role '{name}' already exists")
            return await store.insert_role(
                conn,
                tenant_id=principal.tenant_id,
                name=name,
                permissions=sorted(set(permissions)),
                description=description,
                builtin=False,
                now=self._clock.now_ns(),
            )

    async def list_roles(self, principal: Principal) -> list[Role]:
        """Roles of the principal's tenant."""
        require(principal, Permission.ADMIN)
        async with self._db.read() as conn:
            return await store.list_roles(conn, tenant_id=principal.tenant_id)

    async def delete_role(self, principal: Principal, *, name: str) -> None:
        """Remove a role that is not built in."""
        require(principal, Permission.ADMIN)
        async with self._changing(f"Role '{name}'") as conn:
            found = await store.find_roles(conn, tenant_id=principal.tenant_id, names=[name])
            if not found:
                raise NotFound(f"Role '{name}' not found")
            if found[0].builtin:
                raise Conflict(f"Role '{name}' is built in and cannot be deleted")
            await store.delete_role(conn, role_id=found[0].id)

    # --- groups ----------------------------------------------------------------------------------

    async def create_group(
        self, principal: Principal, *, name: str, description: str | None
    ) -> Group:
        """A new group."""
        require(principal, Permission.ADMIN)
        _check_name("name", name)
        async with self._changing(f"Group '{name}'") as conn:
            if await store.find_group(conn, tenant_id=principal.tenant_id, name=name):
                raise Conflict(f"Group '{name}' already exists")
            return await store.insert_group(
                conn,
                tenant_id=principal.tenant_id,
                name=name,
                description=description,
                now=self._clock.now_ns(),
            )

    async def list_groups(self, principal: Principal) -> list[Group]:
        """Groups of the principal's tenant."""
        require(principal, Permission.ADMIN)
        async with self._db.read() as conn:
            return await store.list_groups(conn, tenant_id=principal.tenant_id)

    async def get_group(self, principal: Principal, *, name: str) -> tuple[Group, list[str]]:
        """A group and the names of its members."""
        require(principal, Permission.ADMIN)
        async with self._db.read() as conn:
            group = await self._group(conn, principal, name)
            return group, await store.group_member_names(conn, group_id=group.id)

    async def delete_group(self, principal: Principal, *, name: str) -> None:
        """Remove a group and its memberships."""
        require(principal, Permission.ADMIN)
        async with self._changing(f"Group '{name}'") as conn:
            group = await self._group(conn, principal, name)
            await store.delete_group(conn, group_id=group.id)

    async def set_membership(
        self, principal: Principal, *, group: str, member: str, present: bool
    ) -> bool:
        """Add or remove a member; returns whether anything changed."""
        require(principal, Permission.ADMIN)
        async with self._changing(f"Member '{member}'") as conn:
            found = await self._group(conn, principal, group)
            account = await self._account(conn, principal, member)
            if present:
                return await store.add_group_member(conn, group_id=found.id, account_id=account.id)
            return await store.remove_group_member(conn, group_id=found.id, account_id=account.id)

    # --- API keys --------------------------------------------------------------------------------

    async def create_api_key(
        self,
        principal: Principal,
        *,
        account_name: str | None,
        name: str,
        expires_in_seconds: int | None,
    ) -> IssuedKey:
        """A new key for an account (the caller's own unless it is an admin naming another)."""
        target = account_name or principal.name
        if target != principal.name:
            require(principal, Permission.ADMIN)
        _check_name("name", name)
        now = self._clock.now_ns()
        async with self._changing(f"API key '{name}'") as conn:
            account = await self._account(conn, principal, target)
            return await issue_api_key(
                conn,
                account=account,
                name=name,
                expires_at=None
                if expires_in_seconds is None
                else now + expires_in_seconds * NS_PER_SECOND,
                now=now,
            )

    async def list_api_keys(
        self, principal: Principal, *, account_name: str | None
    ) -> list[ApiKey]:
        """Keys of the tenant (admins) or of the caller; never the secrets."""
        if account_name != principal.name and not principal.is_admin:
            if account_name is not None:
                raise Forbidden(f"Permission '{Permission.ADMIN.value}' is required")
            account_name = principal.name
        async with self._db.read() as conn:
            principal_id = None
            if account_name is not None:
                principal_id = (await self._account(conn, principal, account_name)).id
            return await store.list_api_keys(
                conn, tenant_id=principal.tenant_id, principal_id=principal_id
            )

    async def revoke_api_key(self, principal: Principal, *, key_id: int) -> ApiKey:
        """Revoke a key of the caller's own, or any key of the tenant for an admin."""
        async with self._changing("API key") as conn:
            key = await store.find_api_key(conn, key_id=key_id)
            if key is None or key.tenant_id != principal.tenant_id:
                raise NotFound(f"API key {key_id} not found")
            if key.principal_id != principal.id:
                require(principal, Permission.ADMIN)
            if key.revoked_at is None:
                await store.revoke_api_key(conn, key_id=key_id, now=self._clock.now_ns())
            revoked = await store.find_api_key(conn, key_id=key_id)
            assert revoked is not None
            return revoked

    # --- lookups ---------------------------------------------------------------------------------

    async def _account(self, conn: AsyncConnection, principal: Principal, name: str) -> Account:
        account = await store.find_account(conn, tenant_id=principal.tenant_id, name=name)
        if account is None:
            raise NotFound(f"Account '{name}' not found")
        return account

    async def _group(self, conn: AsyncConnection, principal: Principal, name: str) -> Group:
        group = await store.find_group(conn, tenant_id=principal.tenant_id, name=name)
        if group is None:
            raise NotFound(f"Group '{name}' not found")
        return group

    async def _view(self, conn: AsyncConnection, account: Account) -> AccountView:
        return AccountView(
            account,
            await store.role_names_of(conn, account_id=account.id),
            await store.group_names_of(conn, account_id=account.id),
        )

    async def _role_ids(
        self, conn: AsyncConnection, principal: Principal, names: Sequence[str]
    ) -> list[int]:
        wanted = sorted(set(names))
        found = await store.find_roles(conn, tenant_id=principal.tenant_id, names=wanted)
        missing = sorted(set(wanted) - {r.name for r in found})
        if missing:
            raise InvalidInput.of(FieldProblem("roles", f"no such role: {', '.join(missing)}"))
        if not principal.is_system_admin and any(
            Permission.SYSTEM_ADMIN.value in r.permissions for r in found
        ):
            raise Forbidden("Only system admins can grant 'system:admin'")
        return [r.id for r in found]

    async def _group_ids(
        self, conn: AsyncConnection, principal: Principal, names: Sequence[str]
    ) -> list[int]:
        ids = []
        for name in sorted(set(names)):
            group = await store.find_group(conn, tenant_id=principal.tenant_id, name=name)
            if group is None:
                raise InvalidInput.of(FieldProblem("groups", f"no such group: {name}"))
            ids.append(group.id)
        return ids


async def issue_api_key(
    conn: AsyncConnection,
    *,
    account: Account,
    name: str,
    expires_at: int | None,
    now: int,
    secret: str | None = None,
) -> IssuedKey:
    """Store a new key for `account` (a given secret, or a fresh one) and return it once."""
    secret = secret or credentials.new_api_key()
    key_id = await store.insert_api_key(
        conn,
        tenant_id=account.tenant_id,
        principal_id=account.id,
        name=name,
        prefix=credentials.display_prefix(secret),
        key_hash=credentials.digest(secret),
        expires_at=expires_at,
        now=now,
    )
    key = await store.find_api_key(conn, key_id=key_id)
    assert key is not None
    return IssuedKey(key=key, secret=secret)


async def provision_tenant(
    conn: AsyncConnection,
    *,
    name: str,
    now: int,
    admin_secret: str | None = None,
    system_admin: bool = False,
) -> NewTenant:
    """Create a tenant, its built-in roles and its `admin` service account with one key."""
    tenant = await store.insert_tenant(conn, locator=str(uuid.uuid4()), name=name, now=now)
    role_ids = []
    for role_name, permissions in BUILTIN_ROLES.items():
        role = await store.insert_role(
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
        role = await store.insert_role(
            conn,
            tenant_id=tenant.id,
            name="system-admin",
            permissions=[Permission.SYSTEM_ADMIN.value],
            description="Manages tenants",
            builtin=True,
            now=now,
        )
        role_ids.append(role.id)
    admin = await store.insert_account(
        conn,
        tenant_id=tenant.id,
        kind=PrincipalKind.SERVICE,
        name="admin",
        locator=str(uuid.uuid4()),
        password_hash=None,
        display_name="Administrator",
        now=now,
    )
    await store.set_account_roles(conn, account_id=admin.id, role_ids=role_ids)
    key = await issue_api_key(
        conn, account=admin, name="bootstrap", expires_at=None, now=now, secret=admin_secret
    )
    return NewTenant(tenant=tenant, admin=admin, admin_key=key)
