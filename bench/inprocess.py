"""Tidings' services inside the benchmark's own process, on a fresh SQLite data dir or PostgreSQL
database.

The automation benchmarks that measure the worker pool and the storage functions call them
directly, as `tidings serve` wires them (`Services.build`, then `build_worker_pool`), so HTTP
does not blur the figure; the end-to-end benchmark (`bench.action_latency`) runs the real server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.server import ADMIN_TOKEN, PgDatabase
from tidings.cli.logging import configure_logging
from tidings.services.runtime import Services
from tidings.settings import Settings


@contextmanager
def database_url(engine: str, label: str) -> Iterator[str | None]:
    """A fresh PostgreSQL database's DSN (dropped on exit), or None: SQLite in the data dir."""
    if engine == "postgresql":
        with PgDatabase(label) as db:
            yield db.dsn
    else:
        yield None


def bench_settings(data_dir: Path, url: str | None, **overrides: Any) -> Settings:
    """The server's defaults (SQLite synchronous=FULL, 16 workers) on `data_dir` / `url`."""
    return Settings(
        data_dir=data_dir,
        database_url=url,
        admin_token=ADMIN_TOKEN,
        log_level="warning",
        **overrides,
    )


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Services]:
    """Migrated, bootstrapped and started services; stopped on exit."""
    configure_logging(settings.log_level, "console")
    services = Services.build(settings)
    await services.start()
    try:
        yield services
    finally:
        await services.stop()


async def default_tenant(services: Services) -> int:
    """The id of the bootstrapped `default` tenant."""
    async with services.db.read() as conn:
        row = await conn.execute(text("SELECT id FROM tenants WHERE name = 'default'"))
        return int(row.scalar_one())
