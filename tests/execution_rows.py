"""Executions for tests, enqueued the way the rule engine enqueues them (`insert_executions`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Principal, PrincipalKind
from tidings.domain.automation import NewExecution
from tidings.domain.json import JSONValue
from tidings.services.runtime import Services
from tidings.storage import executions as execution_store
from tidings.storage.automation_tables import enforcements, executions

TENANT = 1  # the bootstrap tenant of a fresh database
# The bootstrap admin, as services see an authenticated caller.
ADMIN = Principal(
    id=1,
    locator="admin",
    tenant_id=TENANT,
    tenant_locator="",
    name="admin",
    kind=PrincipalKind.SERVICE,
    permissions=frozenset({"admin"}),
)


def new_execution(
    *,
    runner: str = "noop",
    parameters: JSONValue = None,
    available_at: int = 0,
    max_attempts: int = 3,
    timeout_seconds: float = 30.0,
    enforcement_id: int | None = None,
    action_ref: str | None = None,
    entry_point: str | None = None,
    tenant_id: int = TENANT,
) -> NewExecution:
    """An execution of a `core.<runner>` action with no rule behind it."""
    return NewExecution(
        tenant_id=tenant_id,
        enforcement_id=enforcement_id,
        rule_id=None,
        rule_ref=None,
        event_id=None,
        action_id=None,
        action_ref=action_ref or f"core.{runner}",
        runner=runner,
        entry_point=entry_point,
        parameters={} if parameters is None else parameters,
        sealed_parameters=None,
        max_attempts=max_attempts,
        timeout_seconds=timeout_seconds,
        available_at=available_at,
    )


async def enqueue(services: Services, *rows: NewExecution) -> list[int]:
    """Insert executions in one transaction (and announce them); their ids."""

    async def work(conn: AsyncConnection) -> list[int]:
        ids = await execution_store.insert_executions(conn, rows=rows, now=services.clock.now_ns())
        await execution_store.announce(conn)
        return ids

    ids = await services.db.write(work)
    services.work_signal.notify()
    return ids


async def add_enforcement(services: Services, *, status: str = "scheduled") -> int:
    """An enforcement row for an execution to point at."""
    now = services.clock.now_ns()

    async def work(conn: AsyncConnection) -> int:
        inserted = await conn.execute(
            enforcements.insert().returning(enforcements.c.id),
            {
                "tenant_id": TENANT,
                "rule_ref": "core.test_rule",
                "trigger_ref": "core.test",
                "status": status,
                "condition": "passed",
                "conditions": {},
                "created_at": now,
                "updated_at": now,
            },
        )
        return int(inserted.scalar_one())

    return await services.db.write(work)


async def enforcement_status(services: Services, enforcement_id: int) -> str:
    """The stored status of an enforcement."""
    async with services.db.read() as conn:
        query = select(enforcements.c.status).where(enforcements.c.id == enforcement_id)
        return str((await conn.execute(query)).scalar_one())


async def statuses(services: Services) -> dict[int, tuple[str, int]]:
    """Every execution's (status, attempts), by id."""
    async with services.db.read() as conn:
        query = select(executions.c.id, executions.c.status, executions.c.attempts)
        return {r.id: (r.status, r.attempts) for r in await conn.execute(query)}
