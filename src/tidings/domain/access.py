"""Who may see and do what, decided as values.

Permissions are written `area:verb` (Socotra's security groups: `events:read`, `events:list`,
`events:write`). `admin` grants everything inside the principal's tenant; `system:admin` grants the
management of tenants themselves. Visibility of an event is separate from permission: an event that
names `allowed_groups` or `allowed_roles` is visible only to members of one of them, or to admins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from tidings.domain.errors import Forbidden


class Permission(StrEnum):
    """Every permission the API checks. New areas add members here."""

    EVENTS_READ = "events:read"
    EVENTS_LIST = "events:list"
    EVENTS_WRITE = "events:write"
    # Deleting rewrites history, so it is its own permission (admins hold it; writers do not).
    EVENTS_DELETE = "events:delete"
    # The automation engine: reading its catalogue and history, and changing each part of it.
    AUTOMATION_READ = "automation:read"
    RULES_WRITE = "rules:write"
    PACKS_WRITE = "packs:write"
    EXECUTIONS_WRITE = "executions:write"
    # Delivery and time (issue 5): subscriptions and their deliveries, schedules and their jobs.
    SUBSCRIPTIONS_WRITE = "subscriptions:write"
    SCHEDULES_WRITE = "schedules:write"
    ADMIN = "admin"
    SYSTEM_ADMIN = "system:admin"


KNOWN_PERMISSIONS = frozenset(p.value for p in Permission)
_PERMISSION_SHAPE = re.compile(r"^(admin|[a-z][a-z0-9_]*:[a-z][a-z0-9_]*)$")

# Roles every tenant starts with. Operators can add their own.
BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "admin": (Permission.ADMIN.value,),
    "reader": (
        Permission.EVENTS_READ.value,
        Permission.EVENTS_LIST.value,
        Permission.AUTOMATION_READ.value,
    ),
    "writer": (
        Permission.EVENTS_READ.value,
        Permission.EVENTS_LIST.value,
        Permission.EVENTS_WRITE.value,
        Permission.AUTOMATION_READ.value,
    ),
    # Runs the automation: rules, packs, executions; reads and writes events (no deletes).
    "operator": (
        Permission.EVENTS_READ.value,
        Permission.EVENTS_LIST.value,
        Permission.EVENTS_WRITE.value,
        Permission.AUTOMATION_READ.value,
        Permission.RULES_WRITE.value,
        Permission.PACKS_WRITE.value,
        Permission.EXECUTIONS_WRITE.value,
        Permission.SUBSCRIPTIONS_WRITE.value,
        Permission.SCHEDULES_WRITE.value,
    ),
}


def check_permission_name(name: str) -> str | None:
    """Return a problem with a permission's spelling, or None when it is well formed and known."""
    if not _PERMISSION_SHAPE.match(name):
        return f"'{name}' is not of the form area:verb"
    if name not in KNOWN_PERMISSIONS:
        return f"'{name}' is not a known permission ({', '.join(sorted(KNOWN_PERMISSIONS))})"
    return None


class PrincipalKind(StrEnum):
    """A person who logs in with a password, or a program that holds an API key."""

    USER = "user"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, as resolved for one request."""

    id: int
    locator: str
    tenant_id: int
    tenant_locator: str
    name: str
    kind: PrincipalKind
    permissions: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        """Tenant admins hold every permission and see every event of their tenant."""
        return Permission.ADMIN.value in self.permissions or self.is_system_admin

    @property
    def is_system_admin(self) -> bool:
        """System admins manage tenants."""
        return Permission.SYSTEM_ADMIN.value in self.permissions

    def has(self, permission: Permission) -> bool:
        """Whether this principal holds `permission`."""
        if permission is Permission.SYSTEM_ADMIN:
            return self.is_system_admin
        return self.is_admin or permission.value in self.permissions


def internal_writer(*, tenant_id: int, tenant_locator: str, name: str) -> Principal:
    """Tidings itself recording an event in a tenant (a worker's `emit_event`, a disabled
    subscription's notice): no account behind it (id 0), and only `events:write`."""
    return Principal(
        id=0,
        locator="",
        tenant_id=tenant_id,
        tenant_locator=tenant_locator,
        name=name,
        kind=PrincipalKind.SERVICE,
        permissions=frozenset({Permission.EVENTS_WRITE.value}),
    )


def require(principal: Principal, permission: Permission) -> None:
    """Raise Forbidden unless the principal holds the permission."""
    if not principal.has(permission):
        raise Forbidden(f"Permission '{permission.value}' is required")


@dataclass(frozen=True)
class Visibility:
    """Which restricted events a reader may see: all of them, or those naming its groups/roles."""

    sees_all: bool
    groups: frozenset[str]
    roles: frozenset[str]


def visibility_of(principal: Principal) -> Visibility:
    """Decide the visibility filter that every read path applies for this principal."""
    return Visibility(sees_all=principal.is_admin, groups=principal.groups, roles=principal.roles)


def can_see(
    visibility: Visibility, allowed_groups: tuple[str, ...], allowed_roles: tuple[str, ...]
) -> bool:
    """The same rule as the SQL filter, for one event already in memory."""
    if visibility.sees_all or (not allowed_groups and not allowed_roles):
        return True
    return bool(visibility.groups.intersection(allowed_groups)) or bool(
        visibility.roles.intersection(allowed_roles)
    )
