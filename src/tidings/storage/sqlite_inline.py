"""The SQLite writer's driver connection: statements run on the event loop, waits in a thread.

aiosqlite runs every call on a thread of its own: a cursor, an execute, a fetch and a close for
each statement, each a hand-off to that thread and back. On this project's machines a hand-off
costs ~165 µs of CPU (a futex wake-up and a GIL transfer each way), so an event with its
enforcements and action paid ~70 of them, more than the SQL itself (BENCHMARKS.md §10).

The writer's statements are short: inside a `BEGIN IMMEDIATE` transaction it holds SQLite's
write lock, so no statement waits for another connection (readers never block a WAL writer), and
each one is an index seek or a few inserts. They run directly on the event-loop thread here. Only
what can wait goes to aiosqlite's thread as before: `BEGIN IMMEDIATE` (it may wait up to
`busy_timeout` for another process's write lock), `COMMIT` (the fsync, and a WAL checkpoint now
and then), and statements that may run long (`DELETE`, `VACUUM`, `ANALYZE`). The sqlite3
connection is opened with `check_same_thread=False`; aiosqlite and
SQLAlchemy's single-connection writer pool never use it from two threads at once.

Subclassing aiosqlite's `Connection` keeps SQLAlchemy's aiosqlite dialect unchanged: it is handed
to the engine through `async_creator`. No library offers this: aiosqlite has no inline mode.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite

# Statements that may wait on another process or on the disk, or run long, go to the thread: a
# DELETE can be a purge of a million expired rows (`services.maintenance`), and the loop must
# not stop serving for it.
_WAITING_PREFIXES = (
    "BEGIN",
    "COMMIT",
    "END",
    "DELETE",
    "VACUUM",
    "ANALYZE",
    "PRAGMA WAL_CHECKPOINT",
)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose short calls run inline (see the module docstring)."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._waits(fn, args):
            # aiosqlite's own method is untyped; it queues the call to its thread.
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def _waits(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        connection = self._connection
        if connection is None or fn == connection.commit or fn == connection.close:
            return True
        if not args or not isinstance(args[0], str):
            return False
        return args[0].lstrip()[:21].upper().startswith(_WAITING_PREFIXES)


def inline_connector(path: str, *, timeout: float) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy: opens `path` as an `InlineConnection`."""

    async def create() -> InlineConnection:
        connection = InlineConnection(
            partial(sqlite3.connect, path, timeout=timeout, check_same_thread=False),
            iter_chunk_size=64,
        )
        connection._thread.daemon = True  # as SQLAlchemy's dialect does for its own
        await connection  # starts the thread and opens the file there
        return connection

    return create
