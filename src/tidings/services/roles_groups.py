"""Roles and groups: who holds which permissions, and who sees restricted events."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.domain.access import Permission, Principal, check_permission_name, require
from tidings.domain.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from tidings.domain.identity import Group, Role
from tidings.services.admin_base import AdminService, check_name
from tidings.storage import groups as group_store
from tidings.storage import roles as role_store


class RoleAdmin(AdminService):
    """Manages the roles of a tenant."""

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
        check_name("name", name)
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
            if await role_store.find_roles(conn, tenant_id=principal.tenant_id, names=[name]):
                raise Conflict(f"Role '{name}' already exists")
            return await role_store.insert_role(
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
            return await role_store.list_roles(conn, tenant_id=principal.tenant_id)

    async def delete_role(self, principal: Principal, *, name: str) -> None:
        """Remove a role that is not built in."""
        require(principal, Permission.ADMIN)
        async with self._changing(f"Role '{name}'") as conn:
            found = await role_store.find_roles(conn, tenant_id=principal.tenant_id, names=[name])
            if not found:
                raise NotFound(f"Role '{name}' not found")
            if found[0].builtin:
                raise Conflict(f"Role '{name}' is built in and cannot be deleted")
            await role_store.delete_role(conn, role_id=found[0].id)


class GroupAdmin(AdminService):
    """Manages the groups of a tenant and their members."""

    async def create_group(
        self, principal: Principal, *, name: str, description: str | None
    ) -> Group:
        """A new group."""
        require(principal, Permission.ADMIN)
        check_name("name", name)
        async with self._changing(f"Group '{name}'") as conn:
            if await group_store.find_group(conn, tenant_id=principal.tenant_id, name=name):
                raise Conflict(f"Group '{name}' already exists")
            return await group_store.insert_group(
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
            return await group_store.list_groups(conn, tenant_id=principal.tenant_id)

    async def get_group(self, principal: Principal, *, name: str) -> tuple[Group, list[str]]:
        """A group and the names of its members."""
        require(principal, Permission.ADMIN)
        async with self._db.read() as conn:
            group = await self._group(conn, principal, name)
            return group, await group_store.group_member_names(conn, group_id=group.id)

    async def delete_group(self, principal: Principal, *, name: str) -> None:
        """Remove a group and its memberships."""
        require(principal, Permission.ADMIN)
        async with self._changing(f"Group '{name}'") as conn:
            group = await self._group(conn, principal, name)
            await group_store.delete_group(conn, group_id=group.id)

    async def set_membership(
        self, principal: Principal, *, group: str, member: str, present: bool
    ) -> bool:
        """Add or remove a member; returns whether anything changed."""
        require(principal, Permission.ADMIN)
        async with self._changing(f"Member '{member}'") as conn:
            found = await self._group(conn, principal, group)
            account = await self._account(conn, principal, member)
            if present:
                return await group_store.add_group_member(
                    conn, group_id=found.id, account_id=account.id
                )
            return await group_store.remove_group_member(
                conn, group_id=found.id, account_id=account.id
            )
