"""Direct database access for baselines and bulk loads, configured exactly as the server's."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.workload import INSERT_COLUMNS
from tidings.storage.engine import create_engines, sqlite_url
from tidings.storage.migrate import upgrade_to_head
from tidings.storage.tables import events

SERVER_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-16000",
)
_PLACEHOLDERS = ", ".join("?" for _ in INSERT_COLUMNS)
_COLUMNS = ", ".join(INSERT_COLUMNS)
# Built from the constant column list above, never from input.
SQLITE_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES ({_PLACEHOLDERS})"  # noqa: S608


def check_columns() -> None:
    """Fail loudly when `events` gained a column the direct loads do not write."""
    missing = {c.name for c in events.c if c.name != "id"} - set(INSERT_COLUMNS)
    if missing:
        raise RuntimeError(f"bench.workload.INSERT_COLUMNS lacks events columns: {missing}")


def migrate_sqlite(path: Path) -> None:
    """Create `path` with the project's schema (its Alembic migrations)."""

    async def run() -> None:
        engines = create_engines(sqlite_url(path), pool_size=1)
        try:
            await upgrade_to_head(engines.writer)
        finally:
            await engines.dispose()

    asyncio.run(run())


def connect_sqlite(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """A sqlite3 connection with the server's PRAGMAs, in autocommit (explicit BEGIN) mode."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SERVER_PRAGMAS:
        conn.execute(pragma)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def sqlite_identity(conn: sqlite3.Connection) -> tuple[int, int]:
    """(tenant id, admin principal id) of the bootstrapped default tenant."""
    row = conn.execute(
        "SELECT t.id, p.id FROM tenants t JOIN principals p ON p.tenant_id = t.id "
        "WHERE t.name = 'default' AND p.name = 'admin'"
    ).fetchone()
    if row is None:
        raise RuntimeError("the database has no default tenant: start the server on it first")
    return int(row[0]), int(row[1])


def sqlite_load(
    conn: sqlite3.Connection, rows: Iterable[Sequence[Any]], *, per_transaction: int
) -> int:
    """Insert rows with executemany, `per_transaction` rows per BEGIN IMMEDIATE … COMMIT."""
    check_columns()
    count = 0
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == per_transaction:
            count += _sqlite_commit(conn, chunk)
            chunk = []
    if chunk:
        count += _sqlite_commit(conn, chunk)
    return count


def load_sqlite_file(path: Path, rows: Callable[[int, int], Iterable[Sequence[Any]]]) -> float:
    """Fill a bootstrapped SQLite file with `rows(tenant_id, actor_id)`; returns seconds taken.

    50,000 rows per transaction and `synchronous=NORMAL`: loading is set-up, not what is measured.
    """
    began = time.perf_counter()
    conn = connect_sqlite(path, synchronous="NORMAL")
    try:
        tenant_id, actor_id = sqlite_identity(conn)
        sqlite_load(conn, rows(tenant_id, actor_id), per_transaction=50_000)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - began


def _sqlite_commit(conn: sqlite3.Connection, chunk: list[Sequence[Any]]) -> int:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(SQLITE_INSERT, chunk)
    conn.execute("COMMIT")
    return len(chunk)


async def pg_identity(conn: asyncpg.Connection) -> tuple[int, int]:
    """(tenant id, admin principal id) of the bootstrapped default tenant."""
    row = await conn.fetchrow(
        "SELECT t.id, p.id FROM tenants t JOIN principals p ON p.tenant_id = t.id "
        "WHERE t.name = 'default' AND p.name = 'admin'"
    )
    if row is None:
        raise RuntimeError("the database has no default tenant: start the server on it first")
    return int(row[0]), int(row[1])


async def pg_load(
    conn: asyncpg.Connection, rows: Iterable[Sequence[Any]], *, per_copy: int = 100_000
) -> int:
    """COPY rows into `events` in chunks."""
    check_columns()
    count = 0
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == per_copy:
            await conn.copy_records_to_table("events", records=chunk, columns=INSERT_COLUMNS)
            count += len(chunk)
            chunk = []
    if chunk:
        await conn.copy_records_to_table("events", records=chunk, columns=INSERT_COLUMNS)
        count += len(chunk)
    return count
