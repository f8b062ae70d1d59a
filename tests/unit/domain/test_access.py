"""Permission and visibility decisions."""

from __future__ import annotations

import pytest

from tidings.domain.access import (
    Permission,
    Principal,
    PrincipalKind,
    Visibility,
    can_see,
    check_permission_name,
    require,
    visibility_of,
)
from tidings.domain.errors import Forbidden


def principal(
    *permissions: str, groups: tuple[str, ...] = (), roles: tuple[str, ...] = ()
) -> Principal:
    return Principal(
        id=1,
        locator="p",
        tenant_id=1,
        tenant_locator="t",
        name="p",
        kind=PrincipalKind.USER,
        permissions=frozenset(permissions),
        groups=frozenset(groups),
        roles=frozenset(roles),
    )


@pytest.mark.parametrize(
    ("held", "asked", "allowed"),
    [
        (("events:read",), Permission.EVENTS_READ, True),
        (("events:read",), Permission.EVENTS_WRITE, False),
        (("admin",), Permission.EVENTS_WRITE, True),  # admin implies every tenant permission
        (("admin",), Permission.SYSTEM_ADMIN, False),  # but not the management of tenants
        (("system:admin",), Permission.SYSTEM_ADMIN, True),
        (("system:admin",), Permission.EVENTS_LIST, True),  # system admins are tenant admins too
        ((), Permission.EVENTS_READ, False),
    ],
)
def test_permissions(held: tuple[str, ...], asked: Permission, allowed: bool) -> None:
    assert principal(*held).has(asked) is allowed
    if allowed:
        require(principal(*held), asked)
    else:
        with pytest.raises(Forbidden, match=asked.value):
            require(principal(*held), asked)


@pytest.mark.parametrize(
    ("visibility", "groups", "roles", "visible"),
    [
        (Visibility(False, frozenset(), frozenset()), (), (), True),  # unrestricted event
        (Visibility(False, frozenset(), frozenset()), ("ops",), (), False),
        (Visibility(False, frozenset({"ops"}), frozenset()), ("ops", "dev"), (), True),
        (Visibility(False, frozenset({"qa"}), frozenset()), ("ops",), (), False),
        (Visibility(False, frozenset(), frozenset({"auditor"})), (), ("auditor",), True),
        (Visibility(False, frozenset({"ops"}), frozenset()), (), ("auditor",), False),
        (Visibility(True, frozenset(), frozenset()), ("ops",), ("auditor",), True),  # admin
    ],
)
def test_can_see(
    visibility: Visibility, groups: tuple[str, ...], roles: tuple[str, ...], visible: bool
) -> None:
    assert can_see(visibility, groups, roles) is visible


def test_visibility_of_follows_admin_groups_and_roles() -> None:
    assert visibility_of(principal("admin")).sees_all is True
    reader = visibility_of(principal("events:read", groups=("ops",), roles=("reader",)))
    assert reader == Visibility(False, frozenset({"ops"}), frozenset({"reader"}))


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("events:read", None),
        ("admin", None),
        ("system:admin", None),
        ("events:fly", "'events:fly' is not a known permission"),
        ("Events:Read", "'Events:Read' is not of the form area:verb"),
        ("events", "'events' is not of the form area:verb"),
    ],
)
def test_permission_names(name: str, problem: str | None) -> None:
    found = check_permission_name(name)
    assert (found if found is None else found.split(" (")[0]) == problem
