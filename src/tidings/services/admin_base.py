"""What every admin service shares: the transaction that reports a change, and lookups.

Tenant admins (`admin`) manage their own tenant; system admins (`system:admin`) create tenants.
Every change calls `on_change`, which drops this node's credential cache at once; other nodes
follow within the cache's one-second bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Principal
from tidings.domain.clock import Clock
from tidings.domain.errors import Conflict, FieldProblem, InvalidInput, NotFound
from tidings.domain.identity import Account, Group, name_problem
from tidings.services.database import Database
from tidings.storage import accounts as account_store
from tidings.storage import groups as group_store


def check_name(field: str, name: str) -> None:
    problem = name_problem(name)
    if problem:
        raise InvalidInput.of(FieldProblem(field, problem))


class AdminService:
    """Base of the admin services: a database, a clock and the change hook."""

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

    async def _account(self, conn: AsyncConnection, principal: Principal, name: str) -> Account:
        account = await account_store.find_account(conn, tenant_id=principal.tenant_id, name=name)
        if account is None:
            raise NotFound(f"Account '{name}' not found")
        return account

    async def _group(self, conn: AsyncConnection, principal: Principal, name: str) -> Group:
        group = await group_store.find_group(conn, tenant_id=principal.tenant_id, name=name)
        if group is None:
            raise NotFound(f"Group '{name}' not found")
        return group
