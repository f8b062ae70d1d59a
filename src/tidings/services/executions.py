"""Executions: reading them with their attempts and results, cancelling and retrying them."""

from __future__ import annotations

from tidings.domain.clock import Clock
from tidings.services.database import Database


class ExecutionAdmin:
    """Reads and manages executions for API callers."""

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock
