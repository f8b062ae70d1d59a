"""Identity records: tenants, accounts (users and service accounts), roles, groups and keys.

Validation of names lives here so every entry point (API, CLI, bootstrap) applies the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tidings.domain.access import PrincipalKind

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,99}$")
NAME_RULE = "1-100 characters: letters, digits and _ . @ -, starting with a letter or digit"
MIN_PASSWORD_CHARS = 12


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a tenant, account, role or group; None when it can."""
    return None if NAME_PATTERN.match(name) else f"'{name}' is not a valid name ({NAME_RULE})"


def password_problem(password: str) -> str | None:
    """Why `password` is too weak to accept; None when it is acceptable."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"must be at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    return None


@dataclass(frozen=True)
class Tenant:
    """The isolation boundary; `locator` is the UUID Socotra's paths name."""

    id: int
    locator: str
    name: str
    created_at: int


@dataclass(frozen=True)
class Account:
    """A user or a service account, as stored."""

    id: int
    tenant_id: int
    locator: str
    kind: PrincipalKind
    name: str
    display_name: str | None
    is_active: bool
    has_password: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Role:
    """A named set of permissions."""

    id: int
    tenant_id: int
    name: str
    description: str | None
    permissions: tuple[str, ...]
    builtin: bool
    created_at: int


@dataclass(frozen=True)
class Group:
    """A named set of accounts; events name groups in `allowed_groups`."""

    id: int
    tenant_id: int
    name: str
    description: str | None
    created_at: int


@dataclass(frozen=True)
class ApiKey:
    """An API key's metadata. The key itself is shown once and stored only as a hash."""

    id: int
    tenant_id: int
    principal_id: int
    principal_name: str
    name: str
    prefix: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def is_usable(self, now: int) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Grants:
    """What an account holds through its roles and groups."""

    permissions: frozenset[str]
    roles: frozenset[str]
    groups: frozenset[str]
