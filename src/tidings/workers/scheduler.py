"""The scheduler loop: fire what is due, then sleep until the next schedule is due.

It sleeps until the earliest `next_fire_at` of all schedules, at most `max_sleep_seconds` (1 s
by default), and wakes early when this process saves, resumes or changes a schedule (the
services' `schedule_signal`). Another process's change is seen within that second: DESIGN.md's
promise that a change on one node takes effect on every node within one second, kept by a
one-row index read a second rather than a listener. Schedules held BLOCKED are looked at again
every `blocked_every_seconds`.

Every process that runs a scheduler (`tidings serve`, `tidings scheduler`) may fire any
schedule: `services.schedule_fires` makes each tick fire once whichever process gets it.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from tidings.domain.clock import Clock
from tidings.domain.schedule_times import NS
from tidings.services.runtime import Services
from tidings.services.schedule_fires import ScheduleFirer
from tidings.services.work_signal import WorkSignal

log = structlog.get_logger(__name__)

# When the next schedule is due already but this round fired nothing (another scheduler holds
# it right now), look again after this long rather than at once.
_CONTENDED_SECONDS = 0.05


class Scheduler:
    """Runs `ScheduleFirer` rounds on a timer until stopped."""

    def __init__(
        self,
        firer: ScheduleFirer,
        signal: WorkSignal,
        *,
        clock: Clock,
        max_sleep_seconds: float = 1.0,
        blocked_every_seconds: float = 1.0,
        error_pause_seconds: float = 1.0,
        stop_grace_seconds: float = 5.0,
    ) -> None:
        self._firer = firer
        self._signal = signal
        self._clock = clock
        self._max_sleep = max_sleep_seconds
        self._blocked_every_ns = int(blocked_every_seconds * NS)
        self._error_pause = error_pause_seconds
        self._stop_grace = stop_grace_seconds
        self._next_blocked_check = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()  # set between rounds
        self._idle.set()

    async def run_once(self) -> float:
        """Fire everything due now; the seconds to sleep before the next round."""
        now = self._clock.now_ns()
        if now >= self._next_blocked_check:
            await self._firer.release_blocked()
            self._next_blocked_check = now + self._blocked_every_ns
        fired = 0
        while not self._stopping:
            taken = await self._firer.fire_due()
            fired += taken
            if taken < self._firer.batch:
                break
        upcoming = await self._firer.next_due()
        if upcoming is None:
            return self._max_sleep
        wait = (upcoming - self._clock.now_ns()) / NS
        if wait <= 0:
            return 0.0 if fired else _CONTENDED_SECONDS
        return min(wait, self._max_sleep)

    async def start(self) -> None:
        """Start the loop as a task of this event loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tidings-scheduler")

    async def stop(self) -> None:
        """Stop the loop. A round in progress may finish for up to `stop_grace_seconds`, so its
        events get their fire rows; past that it is cancelled, and its ticks are due again on
        the next start, where they find their events rather than record new ones."""
        if self._task is None:
            return
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._stop_grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._stopping = False

    async def _run(self) -> None:
        while not self._stopping:
            self._idle.clear()
            try:
                wait = await self.run_once()
            except Exception:
                log.exception("scheduler.round_failed")
                wait = self._error_pause
            finally:
                self._idle.set()
            if wait > 0 and not self._stopping:
                await self._signal.wait(wait)


def build_scheduler(services: Services, *, firer: ScheduleFirer | None = None) -> Scheduler:
    """A scheduler (not started) for this process's services."""
    firer = firer or ScheduleFirer(services.db, services.ingest, clock=services.clock)
    return Scheduler(firer, services.schedule_signal, clock=services.clock)
