"""The migrations build exactly the schema `tables.py` declares, on both engines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from sqlalchemy import text

from tests.conftest import PG_ADMIN_DSN
from tidings.domain.access import BUILTIN_ROLES
from tidings.services.runtime import Services
from tidings.storage.engine import create_engines, sqlite_url
from tidings.storage.migrate import alembic_config, schema_differences, upgrade_to_head


async def test_migrated_schema_matches_the_tables(services: Services) -> None:
    assert await schema_differences(services.db.engines.writer) == []


async def test_migrating_again_changes_nothing(services: Services) -> None:
    await services.db.migrate()
    assert await schema_differences(services.db.engines.writer) == []


_OLD_ENFORCEMENT = text(
    "INSERT INTO enforcements (id, tenant_id, rule_id, rule_ref, trigger_ref, event_id, status,"
    " condition, conditions, created_at, updated_at) VALUES (:id, 7, :id, 'r', 't', :event,"
    " 'completed', 'failed', '{}', 0, 0)"
)
_OLD_ROWS = (
    text("INSERT INTO tenants (id, locator, name, created_at) VALUES (7, 'l-7', 't7', 0)"),
    text(
        "INSERT INTO executions (id, tenant_id, enforcement_id, action_ref, runner, parameters,"
        " status, max_attempts, timeout_seconds, available_at, created_at, updated_at)"
        " VALUES (9, 7, 4, 'core.noop', 'noop', '{}', 'succeeded', 1, 1, 0, 0, 0)"
    ),
)


@pytest.fixture
async def empty_database_url(
    engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A database with no schema at all, on the test's engine."""
    if engine_name == "sqlite":
        yield sqlite_url(tmp_path / "old.db")
        return
    session_db: str = request.getfixturevalue("pg_database")  # skips or fails like the others
    name = f"{session_db}_empty"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield "postgresql://" + PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_enforcements_are_renumbered_by_event_and_executions_follow(
    empty_database_url: str,
) -> None:
    """Migration 0005 gives existing enforcements the ids new ones get: event << 16 | rank."""
    url = empty_database_url
    engines = create_engines(url, pool_size=1)
    try:
        async with engines.writer.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0004"))
            for statement in _OLD_ROWS:
                await conn.execute(statement)
            # Enforcement ids 1..5 from the old sequence: events 40 (three rules) and 41 (two).
            await conn.execute(
                _OLD_ENFORCEMENT,
                [{"id": i, "event": e} for i, e in ((1, 40), (2, 41), (3, 40), (4, 41), (5, 40))],
            )
        await upgrade_to_head(engines.writer)
        async with engines.writer.connect() as conn:
            renumbered = (
                await conn.execute(text("SELECT id, rule_id FROM enforcements ORDER BY rule_id"))
            ).all()
            followed = (await conn.execute(text("SELECT enforcement_id FROM executions"))).scalar()
    finally:
        await engines.dispose()
    assert [tuple(r) for r in renumbered] == [
        (40 << 16, 1),
        (41 << 16, 2),
        ((40 << 16) | 1, 3),
        ((41 << 16) | 1, 4),
        ((40 << 16) | 2, 5),
    ]
    assert followed == (41 << 16) | 1


async def test_builtin_operator_roles_gain_the_delivery_and_schedule_permissions(
    empty_database_url: str,
) -> None:
    """Migration 0006 gives existing tenants' built-in operator role what new tenants' has;
    a tenant's own role of the same spirit is left alone."""
    engines = create_engines(empty_database_url, pool_size=1)
    try:
        async with engines.writer.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0005"))
            await conn.execute(_OLD_ROWS[0])
            await conn.execute(
                text(
                    "INSERT INTO roles (tenant_id, name, permissions, builtin, created_at) VALUES"
                    " (7, 'operator', '[\"events:read\", \"rules:write\"]', :builtin, 0),"
                    " (7, 'ops', '[\"events:read\"]', :other, 0)"
                ),
                {"builtin": True, "other": False},
            )
        await upgrade_to_head(engines.writer)
        async with engines.writer.connect() as conn:
            rows = (await conn.execute(text("SELECT name, permissions FROM roles"))).all()
    finally:
        await engines.dispose()
    found = {name: perms if isinstance(perms, list) else json.loads(perms) for name, perms in rows}
    assert found["operator"] == list(BUILTIN_ROLES["operator"])
    assert found["ops"] == ["events:read"]
