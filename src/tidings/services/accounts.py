"""Users, service accounts and their API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, PrincipalKind, require
from tidings.domain.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from tidings.domain.identity import Account, ApiKey, password_problem
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services import credentials
from tidings.services.admin_base import AdminService, check_name
from tidings.storage import accounts as account_store
from tidings.storage import credentials as credential_store
from tidings.storage import groups as group_store
from tidings.storage import roles as role_store


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


class AccountAdmin(AdminService):
    """Manages accounts and API keys, each change checked against the caller."""

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
        check_name("name", name)
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
            if await account_store.find_account(conn, tenant_id=principal.tenant_id, name=name):
                raise Conflict(f"Account '{name}' already exists")
            role_ids = await self._role_ids(conn, principal, roles)
            group_ids = await self._group_ids(conn, principal, groups)
            account = await account_store.insert_account(
                conn,
                tenant_id=principal.tenant_id,
                kind=kind,
                name=name,
                locator=str(uuid.uuid4()),
                password_hash=password_hash,
                display_name=display_name,
                now=self._clock.now_ns(),
            )
            await account_store.set_account_roles(conn, account_id=account.id, role_ids=role_ids)
            await account_store.set_account_groups(conn, account_id=account.id, group_ids=group_ids)
            return AccountView(account, sorted(set(roles)), sorted(set(groups)))

    async def list_accounts(
        self, principal: Principal, *, kind: PrincipalKind | None
    ) -> list[AccountView]:
        """Accounts of the principal's tenant."""
        require(principal, Permission.ADMIN)
        async with self._db.read() as conn:
            accounts = await account_store.list_accounts(
                conn, tenant_id=principal.tenant_id, kind=kind
            )
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
            await account_store.update_account(conn, account_id=account.id, now=now, **values)
            if password is not None:  # a new password ends every session of the old one
                await credential_store.revoke_refresh_tokens_of(
                    conn, account_id=account.id, now=now
                )
            if roles is not None:
                ids = await self._role_ids(conn, principal, roles)
                await account_store.set_account_roles(conn, account_id=account.id, role_ids=ids)
            if groups is not None:
                ids = await self._group_ids(conn, principal, groups)
                await account_store.set_account_groups(conn, account_id=account.id, group_ids=ids)
            fresh = await self._account(conn, principal, name)
            return await self._view(conn, fresh)

    async def delete_account(self, principal: Principal, *, name: str) -> None:
        """Remove an account and everything that authenticates as it."""
        require(principal, Permission.ADMIN)
        if principal.name == name:
            raise InvalidInput.of(FieldProblem("name", "an account cannot delete itself"))
        async with self._changing(f"Account '{name}'") as conn:
            account = await self._account(conn, principal, name)
            await account_store.delete_account(conn, account_id=account.id)

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
        check_name("name", name)
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
            return await credential_store.list_api_keys(
                conn, tenant_id=principal.tenant_id, principal_id=principal_id
            )

    async def revoke_api_key(self, principal: Principal, *, key_id: int) -> ApiKey:
        """Revoke a key of the caller's own, or any key of the tenant for an admin."""
        async with self._changing("API key") as conn:
            key = await credential_store.find_api_key(conn, key_id=key_id)
            if key is None or key.tenant_id != principal.tenant_id:
                raise NotFound(f"API key {key_id} not found")
            if key.principal_id != principal.id:
                require(principal, Permission.ADMIN)
            if key.revoked_at is None:
                await credential_store.revoke_api_key(conn, key_id=key_id, now=self._clock.now_ns())
            revoked = await credential_store.find_api_key(conn, key_id=key_id)
            assert revoked is not None
            return revoked

    async def _view(self, conn: AsyncConnection, account: Account) -> AccountView:
        return AccountView(
            account,
            await account_store.role_names_of(conn, account_id=account.id),
            await account_store.group_names_of(conn, account_id=account.id),
        )

    async def _role_ids(
        self, conn: AsyncConnection, principal: Principal, names: Sequence[str]
    ) -> list[int]:
        wanted = sorted(set(names))
        found = await role_store.find_roles(conn, tenant_id=principal.tenant_id, names=wanted)
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
            group = await group_store.find_group(conn, tenant_id=principal.tenant_id, name=name)
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
    key_id = await credential_store.insert_api_key(
        conn,
        tenant_id=account.tenant_id,
        principal_id=account.id,
        name=name,
        prefix=credentials.display_prefix(secret),
        key_hash=credentials.digest(secret),
        expires_at=expires_at,
        now=now,
    )
    key = await credential_store.find_api_key(conn, key_id=key_id)
    assert key is not None
    return IssuedKey(key=key, secret=secret)
