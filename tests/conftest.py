"""Fixtures shared by every suite: a fresh database per test on SQLite and on PostgreSQL.

PostgreSQL tests share one migrated database per session and empty it (TRUNCATE … RESTART
IDENTITY) before each test: a few milliseconds, where CREATE DATABASE costs ~400 ms here.
When `CI` is set, an unreachable PostgreSQL fails the run instead of skipping its half of the suite.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tidings.api.app import create_app
from tidings.domain.clock import Clock
from tidings.services.clock import SystemClock
from tidings.services.runtime import Services
from tidings.settings import Settings
from tidings.storage.engine import create_engines
from tidings.storage.migrate import upgrade_to_head
from tidings.storage.tables import metadata

PG_ADMIN_DSN = os.environ.get("TIDINGS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_TOKEN = "tdg_test-admin-token-0123456789abcdef"
ENGINES = ["sqlite", "postgresql"]


def _pg_dsn(database: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def _pg_execute(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A migrated database for this test session (skipped if PostgreSQL is absent)."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
    name = f"tidings_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))

    async def migrate() -> None:
        engines = create_engines(_pg_dsn(name), pool_size=1)
        try:
            await upgrade_to_head(engines.writer)
        finally:
            await engines.dispose()

    asyncio.run(migrate())
    yield name
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_reset(database: str) -> None:
    """Empty every table and restart every identity, as if freshly migrated."""
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    conn = await asyncpg.connect(_pg_dsn(database), timeout=5)
    try:
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    """Which engine this test runs on."""
    return str(request.param)


@pytest.fixture
def database_url(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str | None]:
    """A fresh, empty (migrated on PostgreSQL) database; None means SQLite in the data dir."""
    if engine_name == "sqlite":
        yield None
        return
    name: str = request.getfixturevalue("pg_database")
    asyncio.run(_pg_reset(name))
    yield _pg_dsn(name)


@pytest.fixture
def settings(database_url: str | None, tmp_path: Path) -> Settings:
    """Settings for a test server: its own data dir and a known admin key."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        secret_key="test-secret-key",
        sqlite_synchronous="NORMAL",
    )


@pytest.fixture
def clock() -> Clock:
    """The services' clock: the system's; a module that asserts exact times overrides it."""
    return SystemClock()


@pytest.fixture
async def services(settings: Settings, clock: Clock) -> AsyncIterator[Services]:
    """Started services on the fresh database."""
    built = Services.build(settings, clock=clock)
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process (ASGI), unauthenticated."""
    app = create_app(services, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tidings.test") as http:
        yield http


@pytest.fixture
def admin() -> dict[str, str]:
    """Headers of the bootstrap admin (tenant admin and system admin)."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
