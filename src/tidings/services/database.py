"""The database handle services use: reads on a reader pool, writes via the group committer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.errors import Unavailable
from tidings.services.group_commit import GroupCommitter, Work
from tidings.storage import event_stream as stream_store
from tidings.storage import migrate
from tidings.storage.engine import Engines, create_engines

T = TypeVar("T")

# SQLite's busy and I/O conditions; other OperationalErrors ("no such table") are bugs.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "disk i/o error",
    "unable to open",
    "database or disk is full",
)


def is_outage(error: BaseException) -> bool:
    """Whether `error` means the database is unreachable or busy, rather than a bug."""
    if isinstance(error, OSError | TimeoutError | sa_exc.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        text = str(error.orig).lower()
        return isinstance(error, sa_exc.OperationalError) and any(
            marker in text for marker in _SQLITE_UNAVAILABLE
        )
    return False


@asynccontextmanager
async def _outages_as_unavailable() -> AsyncIterator[None]:
    try:
        yield
    except Exception as error:
        if is_outage(error):
            raise Unavailable() from error
        raise


class Database:
    """Owns the engines and the group committer for one process."""

    def __init__(self, engines: Engines, *, max_batch: int = 512) -> None:
        self.engines = engines
        # Every write transaction declares itself an event writer before it writes, so stream
        # followers on PostgreSQL wait for it and for no one else (see storage.event_stream).
        self.committer = GroupCommitter(
            engines.writer, max_batch=max_batch, on_begin=stream_store.take_writer_lock
        )

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
        async with _outages_as_unavailable(), self.engines.reader.connect() as conn:
            if self.dialect == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction of its own, for operations off the ingest hot path."""
        async with _outages_as_unavailable(), self.engines.writer.begin() as conn:
            await stream_store.take_writer_lock(conn)
            yield conn

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a shared, group-committed transaction; returns after the commit."""
        async with _outages_as_unavailable():
            return await self.committer.submit(work)
