"""Wakes this process's workers when work was enqueued, so they need not poll to stay fast.

The enqueuing transaction sets the signal after it commits (in this process); other processes
hear of it through PostgreSQL's NOTIFY. Workers still poll on a timer as a fallback, so a lost
wake-up delays work but never loses it.
"""

from __future__ import annotations

import asyncio


class WorkSignal:
    """An edge-triggered wake-up shared by the enqueuers and workers of one process."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Work is waiting: wake every worker that waits."""
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait for a notification for at most `seconds`; True when notified."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True
