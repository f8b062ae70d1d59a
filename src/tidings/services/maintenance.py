"""Housekeeping that keeps tables from growing without bound.

Stored idempotency answers are only useful for their time-to-live, and refresh tokens only until
they expire; both are purged periodically. The purge is idempotent, so several nodes running it
at once is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from tidings.domain.clock import Clock
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.database import Database
from tidings.storage import credentials as credential_store
from tidings.storage import idempotency as idempotency_store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Purged:
    """How many rows one pass removed."""

    idempotency_keys: int
    refresh_tokens: int


async def purge_expired(db: Database, *, clock: Clock, idempotency_ttl_seconds: int) -> Purged:
    """Remove idempotency answers past their TTL and refresh tokens past their expiry."""
    now = clock.now_ns()
    async with db.transaction() as conn:
        keys = await idempotency_store.purge_older_than(
            conn, cutoff=now - idempotency_ttl_seconds * NS_PER_SECOND
        )
        tokens = await credential_store.purge_refresh_tokens(conn, expired_before=now)
    return Purged(idempotency_keys=keys, refresh_tokens=tokens)


class Housekeeper:
    """Runs `purge_expired` every `interval_seconds` in the background."""

    def __init__(
        self, db: Database, *, clock: Clock, idempotency_ttl_seconds: int, interval_seconds: float
    ) -> None:
        self._db = db
        self._clock = clock
        self._ttl = idempotency_ttl_seconds
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin the periodic purge."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tidings-housekeeper")

    async def stop(self) -> None:
        """Stop the periodic purge."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                purged = await purge_expired(
                    self._db, clock=self._clock, idempotency_ttl_seconds=self._ttl
                )
                log.info(
                    "housekeeping.purged",
                    idempotency_keys=purged.idempotency_keys,
                    refresh_tokens=purged.refresh_tokens,
                )
            except Exception as exc:  # keep running; the next pass retries
                log.error("housekeeping.failed", exc_info=exc)
