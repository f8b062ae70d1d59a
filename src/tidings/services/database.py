"""The database handle services use: reads on a reader pool, writes via the group committer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.services.group_commit import GroupCommitter, Work
from tidings.storage import migrate
from tidings.storage.engine import Engines, create_engines

T = TypeVar("T")


class Database:
    """Owns the engines and the group committer for one process."""

    def __init__(self, engines: Engines, *, max_batch: int = 512) -> None:
        self.engines = engines
        self.committer = GroupCommitter(engines.writer, max_batch=max_batch)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        pool_size: int = 8,
        sqlite_synchronous: str = "FULL",
        max_batch: int = 512,
    ) -> Database:
        """Build engines for `url` (nothing is opened until first use)."""
        engines = create_engines(url, pool_size=pool_size, sqlite_synchronous=sqlite_synchronous)
        return cls(engines, max_batch=max_batch)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engines.dialect

    async def migrate(self) -> None:
        """Apply pending migrations."""
        await migrate.upgrade_to_head(self.engines.writer)

    async def start(self) -> None:
        """Start background writers."""
        await self.committer.start()

    async def close(self) -> None:
        """Drain writes and close every connection."""
        await self.committer.stop()
        await self.engines.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot: a page and its total are counted from the same state."""
        async with self.engines.reader.connect() as conn:
            if self.dialect == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction of its own, for operations off the ingest hot path."""
        async with self.engines.writer.begin() as conn:
            yield conn

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a shared, group-committed transaction; returns after the commit."""
        return await self.committer.submit(work)
