"""Engines for SQLite and PostgreSQL, configured for how Tidings uses them.

SQLite gets two engines on one file: a pool of readers, and a single writer connection whose
transactions start with `BEGIN IMMEDIATE`, so a write never fails on a lock upgrade and writers
never contend (all writes go through the group committer). Python's sqlite3 module would otherwise
issue its own deferred BEGIN; we switch that off and emit BEGIN ourselves, as SQLAlchemy's docs
describe. The writer's short statements run on the event loop rather than aiosqlite's thread
(`sqlite_inline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from tidings.storage.sqlite_inline import inline_connector

_BUSY_SECONDS = 30.0  # how long a SQLite connection waits for another process's lock


def json_dumps(value: Any) -> str:
    """JSON for stored documents (orjson: fast, and strict about what it accepts)."""
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Engines:
    """The reader engine and the writer engine (the same object on PostgreSQL)."""

    reader: AsyncEngine
    writer: AsyncEngine
    dialect: str

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()


def async_url(url: str) -> str:
    """Pick the async driver for a database URL."""
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


def sqlite_url(path: Path) -> str:
    """The aiosqlite URL of a database file."""
    return f"sqlite+aiosqlite:///{path}"


def create_engines(url: str, *, pool_size: int = 8, sqlite_synchronous: str = "FULL") -> Engines:
    """Build the engines for `url` (a SQLite or PostgreSQL URL)."""
    url = async_url(url)
    if url.startswith("postgresql+asyncpg"):
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
        )
        return Engines(reader=engine, writer=engine, dialect="postgresql")
    # Readers share the OS page cache, so each keeps a small private cache: eight 16 MB caches
    # took a loaded server past 250 MB resident. The single writer keeps a larger one.
    reader = _sqlite_engine(
        url, pool_size=pool_size, synchronous=sqlite_synchronous, begin="BEGIN", cache_kib=4_000
    )
    writer = _sqlite_engine(
        url,
        pool_size=1,
        synchronous=sqlite_synchronous,
        begin="BEGIN IMMEDIATE",
        cache_kib=16_000,
        inline=True,
    )
    return Engines(reader=reader, writer=writer, dialect="sqlite")


def _sqlite_engine(
    url: str, *, pool_size: int, synchronous: str, begin: str, cache_kib: int, inline: bool = False
) -> AsyncEngine:
    # The writer runs its statements on the event loop (`sqlite_inline`); readers, whose queries
    # may scan, keep aiosqlite's thread.
    options: dict[str, Any] = {"connect_args": {"timeout": _BUSY_SECONDS}}
    database = make_url(url).database
    if inline and database and database != ":memory:":
        options = {"async_creator": inline_connector(database, timeout=_BUSY_SECONDS)}
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        json_serializer=json_dumps,
        json_deserializer=orjson.loads,
        **options,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={synchronous}",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
            "PRAGMA temp_store=MEMORY",
            f"PRAGMA cache_size=-{cache_kib}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine
