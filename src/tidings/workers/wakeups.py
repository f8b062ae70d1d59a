"""Hearing about new work: PostgreSQL's LISTEN on a dedicated connection.

Enqueuers in any process run `pg_notify('tidings_executions', '')` in their transaction, which
PostgreSQL delivers when it commits. The listener holds one asyncpg connection of its own outside
SQLAlchemy's pool (a pooled connection would be handed to someone else, or recycled, and stop
listening). If the connection drops it reconnects, and wakes the workers once on every (re)connect
in case a notification was missed meanwhile; the workers' poll timer covers the gap as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from tidings.storage.executions import NOTIFY_CHANNEL

log = structlog.get_logger(__name__)


async def listen(dsn: str, wake: Callable[[], None], *, retry_seconds: float = 1.0) -> None:
    """Call `wake` on every notification on the executions channel, until cancelled."""
    while True:
        try:
            await _listen_once(dsn, wake)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("workers.listen_failed", error=str(exc))
        await asyncio.sleep(retry_seconds)


async def _listen_once(dsn: str, wake: Callable[[], None]) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    lost = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wake()

    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, on_notify)
        wake()
        await lost.wait()
        log.warning("workers.listen_lost")
    finally:
        if not conn.is_closed():
            conn.terminate()
