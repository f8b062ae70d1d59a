"""Shapes of the authentication and admin APIs. Secrets appear only in the create responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tidings.domain.identity import ApiKey, Group, Role, Tenant
from tidings.domain.timestamps import format_rfc3339
from tidings.services.accounts import AccountView


class Strict(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    """A password login; `tenant` defaults to the embedded default tenant."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    tenant: str = Field(default="default", min_length=1, max_length=100)


class RefreshRequest(Strict):
    """A refresh token to rotate or revoke."""

    refresh_token: str = Field(min_length=1, max_length=200)


class AccountCreate(Strict):
    """A user (with a password) or a service account (without)."""

    name: str = Field(min_length=1, max_length=100)
    password: str | None = Field(default=None, max_length=1024)
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=100)
    groups: list[str] = Field(default_factory=list, max_length=1000)


class AccountUpdate(Strict):
    """Fields to change; omitted fields stay as they are."""

    password: str | None = Field(default=None, max_length=1024)
    display_name: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    roles: list[str] | None = Field(default=None, max_length=100)
    groups: list[str] | None = Field(default=None, max_length=1000)


class RoleCreate(Strict):
    """A role and the permissions it grants."""

    name: str = Field(min_length=1, max_length=100)
    permissions: list[str] = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)


class GroupCreate(Strict):
    """A group."""

    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)


class MemberAdd(Strict):
    """An account to add to a group."""

    account: str = Field(min_length=1, max_length=100)


class TokenCreate(Strict):
    """A new API key for an account (the caller's own by default)."""

    name: str = Field(min_length=1, max_length=100)
    account: str | None = Field(default=None, max_length=100)
    expires_in_seconds: int | None = Field(default=None, ge=60, le=10 * 365 * 24 * 3600)


class TenantCreate(Strict):
    """A new tenant."""

    name: str = Field(min_length=1, max_length=100)


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    """A tenant."""
    return {
        "id": tenant.id,
        "locator": tenant.locator,
        "name": tenant.name,
        "created": format_rfc3339(tenant.created_at),
    }


def account_json(view: AccountView) -> dict[str, Any]:
    """An account with its roles and groups (never its password hash)."""
    a = view.account
    return {
        "id": a.id,
        "locator": a.locator,
        "name": a.name,
        "kind": a.kind.value,
        "display_name": a.display_name,
        "is_active": a.is_active,
        "has_password": a.has_password,
        "roles": view.roles,
        "groups": view.groups,
        "created": format_rfc3339(a.created_at),
        "updated": format_rfc3339(a.updated_at),
    }


def role_json(role: Role) -> dict[str, Any]:
    """A role."""
    return {
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "permissions": list(role.permissions),
        "builtin": role.builtin,
        "created": format_rfc3339(role.created_at),
    }


def group_json(group: Group, members: list[str] | None = None) -> dict[str, Any]:
    """A group, with its members when they were asked for."""
    out: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "created": format_rfc3339(group.created_at),
    }
    if members is not None:
        out["members"] = members
    return out


def key_json(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    """An API key's metadata; `token` only in the answer that created it."""
    out: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "account": key.principal_name,
        "prefix": key.prefix,
        "created": format_rfc3339(key.created_at),
        "expires": None if key.expires_at is None else format_rfc3339(key.expires_at),
        "revoked": None if key.revoked_at is None else format_rfc3339(key.revoked_at),
    }
    if secret is not None:
        out["token"] = secret
    return out
