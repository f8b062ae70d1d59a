"""The worker pool: N execution slots in one process, fed from the durable queue.

claim → run → record. Executions enqueued in this process usually skip the claim: the enqueuing
transaction writes them already leased to this pool when it has room, and hands them over after
its commit (`reserve`/`adopt`, see `services.execution_dispatch`). A claimer fills the other free
slots from the queue in batches when the queue may hold work: when this process's `WorkSignal`
(an enqueue that left work on the queue), PostgreSQL's NOTIFY (another process's) or the reaper
says so, when a known retry comes due, and on a poll timer — the fallback that makes any lost
wake-up a delay, never a loss. Each execution runs in a task of its own under `asyncio.timeout`.
Beside them, a renewer extends the leases of everything running (and stops what a user
cancelled or what this worker no longer holds), and a reaper puts executions whose lease
expired — their worker died — back on the queue (and keeps PostgreSQL's statistics of the queue
fresh). Every worker runs the reaper; `SKIP LOCKED` keeps them out of each other's way.

Running one attempt (runner, context, timeout, redaction) is `attempts.py`.

Stopping is graceful: no new claims, running executions get `grace_seconds` to finish, and what
is still running then is stopped and released to the queue with its attempt refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from tidings.actions.builtin import RUNNERS
from tidings.actions.guarded_http import GuardedClient
from tidings.actions.runner import (
    ActionSettings,
    EmitEvent,
    LoadPackConfig,
    Runner,
)
from tidings.domain.automation import ExecutionStatus
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.work_signal import WorkSignal
from tidings.storage.executions import ClaimedExecution
from tidings.workers.attempts import Attempts, Outcome, Slot, StopReason

log = structlog.get_logger(__name__)

_RECORD_TRIES = 5
_MIN_WAIT_SECONDS = 0.01
# A pool that took a hand-off this recently is fed by an enqueuer in its process (`_claim_room`).
_HANDOFF_RECENT_SECONDS = 1.0


@dataclass(frozen=True)
class PoolConfig:
    """How many executions run at once, and the pool's clocks."""

    concurrency: int = 16
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    batch_size: int = 64
    grace_seconds: float = 10.0

    @property
    def renew_seconds(self) -> float:
        """Renew well before expiry; often enough that a cancel request is seen quickly."""
        return min(self.lease_seconds / 3, 2.0)

    @property
    def reap_seconds(self) -> float:
        """How often expired leases are looked for."""
        return min(self.lease_seconds / 2, 5.0)


def worker_name() -> str:
    """Unique per pool: host, process and a random suffix (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkerPool:
    """Claims, runs and records executions with up to `concurrency` running at once."""

    def __init__(
        self,
        *,
        queue: ExecutionQueue,
        signal: WorkSignal,
        http: GuardedClient,
        emitter: Callable[[ClaimedExecution], EmitEvent],
        pack_config: Callable[[ClaimedExecution], LoadPackConfig],
        action_settings: ActionSettings,
        config: PoolConfig,
        listen: Callable[[Callable[[], None]], Coroutine[Any, Any, None]] | None = None,
        runners: Mapping[str, Runner] = RUNNERS,
        name: str | None = None,
    ) -> None:
        self.name = name or worker_name()
        self._queue = queue
        self._signal = signal
        self._http = http
        self._attempts = Attempts(
            queue=queue,
            http=http,
            emitter=emitter,
            pack_config=pack_config,
            action_settings=action_settings,
            runners=runners,
        )
        self._config = config
        self._listen = listen
        self._slots: dict[int, Slot] = {}  # everything held: running, or recording its outcome
        self._recording: set[int] = set()  # of those, the ones whose outcome is being recorded
        self._reserved = 0  # slots held for executions an enqueuer is handing over
        self._handed_at = -math.inf  # when the last hand-off took a slot (loop time)
        self._handed = asyncio.Event()  # set whenever no reservation is outstanding
        self._handed.set()
        self._wake = asyncio.Event()
        self._maybe_queued = True  # the queue may hold due work this pool has not tried to claim
        self._claim_held = 0  # slots held for the claim in flight
        self._claimer: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._renewer: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> int:
        """How many executions this pool is running now (or recording the outcome of)."""
        return len(self._slots)

    def _claim_room(self, now: float) -> int:
        """Slots a claim may hold: all free ones, but half of them (rounded up) while hand-offs
        are arriving, so that new work keeps its fast path while older work is claimed."""
        free = self._free()
        if now - self._handed_at < _HANDOFF_RECENT_SECONDS:
            return (free + 1) // 2
        return free

    def _free(self) -> int:
        """Slots for more executions: an execution whose action has returned no longer takes
        one while its outcome waits for a commit, so a slow commit does not idle the pool."""
        running = len(self._slots) - len(self._recording)
        return self._config.concurrency - running - self._reserved - self._claim_held

    @property
    def lease_seconds(self) -> float:
        """How long a lease lasts; the renewer extends it well before then."""
        return self._config.lease_seconds

    def reserve(self, wanted: int) -> int:
        """Hold up to `wanted` free slots for executions about to be handed over (a direct
        hand-off, `services.execution_dispatch`); none unless the pool is running.

        While the queue may hold executions waiting for a claim, the claimer's share of the
        free slots (half, rounded up) is kept for it until its claim is in flight, so new work
        never starves older work. Refusing hand-offs altogether sent new work to the queue
        while a claim was pending, whose wake-up made the next claim hold every free slot in
        turn: a pool could stay on the slow path for good (BENCHMARKS.md, §10).
        """
        if self._claimer is None or self._stopping:
            return 0
        free = self._free()
        if self._maybe_queued and not self._claim_held:
            free -= (free + 1) // 2
        got = max(0, min(wanted, free))
        self._reserved += got
        if got:
            self._handed.clear()
            self._handed_at = asyncio.get_running_loop().time()
        return got

    def unreserve(self, count: int) -> None:
        """Give back held slots that will not be used."""
        self._reserved = max(0, self._reserved - count)
        if not self._reserved:
            self._handed.set()
        if count:
            self._wake.set()

    def adopt(self, claimed: Sequence[ClaimedExecution]) -> None:
        """Run executions committed leased to this pool, each in a slot reserved for it.

        A pool that has stopped meanwhile (its grace ran out) runs none: their leases expire and
        any worker's reaper puts them back on the queue."""
        self._reserved = max(0, self._reserved - len(claimed))
        if not self._reserved:
            self._handed.set()
        if self._claimer is None:
            log.warning("workers.handoff_after_stop", worker=self.name, count=len(claimed))
            return
        for execution in claimed:
            self._begin(execution)

    async def start(self) -> None:
        """Start claiming."""
        if self._claimer is not None:
            return
        self._stopping = False
        spawn = asyncio.get_running_loop().create_task
        self._claimer = spawn(self._claim_loop(), name="tidings-worker-claim")
        self._loops = [
            spawn(self._signal_loop(), name="tidings-worker-signal"),
            spawn(self._every(self._config.reap_seconds, self._reap), name="tidings-worker-reap"),
        ]
        if self._listen is not None:
            self._loops.append(spawn(self._listen(self.wake), name="tidings-worker-listen"))
        self._renewer = spawn(
            self._every(self._config.renew_seconds, self._renew), name="tidings-worker-renew"
        )
        log.info("workers.started", worker=self.name, concurrency=self._config.concurrency)

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; let running executions finish for a while, then release the rest."""
        grace = self._config.grace_seconds if grace_seconds is None else grace_seconds
        # The claimer finishes the claim it may be making (cancelling it mid-write would leave
        # rows leased to us that nobody runs), then sees the flag and returns.
        self._stopping = True
        self._wake.set()
        if self._claimer is not None:
            await self._claimer
        # Executions an enqueuer is handing over are committed as ours: wait for them to arrive.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._handed.wait(), grace)
        self._claimer = None
        await _cancel(self._loops)
        self._loops = []
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for slot in list(self._slots.values()):
            self._stop_slot(slot, "release")
        remaining = [s.task for s in self._slots.values() if s.task is not None]
        if remaining:
            await asyncio.wait(remaining)
        if self._renewer is not None:
            await _cancel([self._renewer])
            self._renewer = None
        await self._http.aclose()
        log.info("workers.stopped", worker=self.name)

    def wake(self) -> None:
        """Look at the queue now: something may have been put on it."""
        self._maybe_queued = True
        self._wake.set()

    async def _claim_loop(self) -> None:
        """Claim while there is room and the queue may hold due work; otherwise sleep.

        A slot freeing up wakes the loop but is no reason by itself to look at the queue: most
        executions of this process arrive by hand-off, and a claim is a write transaction. The
        queue is looked at when told something was put on it (`wake`: this process's signal,
        another process's NOTIFY, the reaper), after a claim that came back full, and when the
        next known due time or the poll interval comes round.
        """
        loop = asyncio.get_running_loop()
        look_at = loop.time()  # when to look at the queue at the latest
        while not self._stopping:
            wanted = min(self._claim_room(loop.time()), self._config.batch_size)
            if wanted > 0 and (self._maybe_queued or loop.time() >= look_at):
                # Cleared before the claim: a wake-up while it runs makes the loop look again.
                self._maybe_queued = False
                claimed = await self._claim(wanted)
                if len(claimed) == wanted:
                    self._maybe_queued = True  # more may be waiting
                    continue
                look_at = loop.time() + await self._wait_for_due()
            timeout = max(_MIN_WAIT_SECONDS, look_at - loop.time()) if wanted > 0 else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()

    async def _claim(self, wanted: int) -> list[ClaimedExecution]:
        """Claim up to `wanted`, their slots held meanwhile (hand-offs cannot take them)."""
        claimed: list[ClaimedExecution] = []
        self._claim_held = wanted
        try:
            claimed = await self._queue.claim(
                worker=self.name, limit=wanted, lease_seconds=self._config.lease_seconds
            )
        except Exception as exc:
            log.error("workers.claim_failed", worker=self.name, error=repr(exc))
        finally:
            self._claim_held = 0
        for execution in claimed:
            self._begin(execution)
        return claimed

    async def _wait_for_due(self) -> float:
        """Seconds until the queue is worth another look: when its next execution is due (soon,
        if one is due yet was not claimed: another claimer holds it), at most the poll interval.
        An idle pool polls with this read, not with a claim."""
        due_in: float | None = None
        try:
            due_in = await self._queue.seconds_until_due()
        except Exception as exc:
            log.error("workers.poll_failed", worker=self.name, error=repr(exc))
        if due_in is None:
            return self._config.poll_seconds
        return max(_MIN_WAIT_SECONDS, min(self._config.poll_seconds, due_in))

    async def _signal_loop(self) -> None:
        while True:
            if await self._signal.wait(3600.0):
                self.wake()

    async def _every(self, seconds: float, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
            except Exception as exc:
                log.error(
                    "workers.timer_failed", worker=self.name, step=step.__name__, error=repr(exc)
                )

    async def _reap(self) -> None:
        if await self._queue.reap_expired():
            self.wake()
        await self._queue.refresh_statistics()

    async def _renew(self) -> None:
        ids = [i for i, slot in self._slots.items() if slot.reason is None]
        if not ids:
            return
        check = await self._queue.renew(
            worker=self.name, ids=ids, lease_seconds=self._config.lease_seconds
        )
        for execution_id in ids:
            slot = self._slots.get(execution_id)
            # An outcome being recorded keeps its lease renewed through a slow commit, but it is
            # not lost when the renewal finds it gone: its own finish committed first.
            if slot is None or execution_id in self._recording:
                continue
            if execution_id not in check.held:
                log.warning("workers.lease_lost", worker=self.name, execution=execution_id)
                self._stop_slot(slot, "lost")
            elif execution_id in check.cancel_requested:
                self._stop_slot(slot, "cancel")

    def _stop_slot(self, slot: Slot, reason: StopReason) -> None:
        if slot.reason is None:
            slot.reason = reason
        if slot.inner is not None:
            slot.inner.cancel()

    def _begin(self, claimed: ClaimedExecution) -> None:
        slot = Slot(claimed)
        self._slots[claimed.id] = slot
        slot.task = asyncio.get_running_loop().create_task(
            self._execute(slot), name=f"tidings-execution-{claimed.id}"
        )

    async def _execute(self, slot: Slot) -> None:
        claimed = slot.claimed
        recording = False
        try:
            outcome = await self._attempts.run(slot)
            recording = True
            self._recording.add(claimed.id)
            self._wake.set()  # the slot is free for the next execution
            await self._record(slot, outcome)
        finally:
            if recording:
                self._recording.discard(claimed.id)
            self._slots.pop(claimed.id, None)
            self._wake.set()

    async def _record(self, slot: Slot, outcome: Outcome) -> None:
        """Write the outcome, trying again through a short outage; if it never lands, the lease
        expires and the reaper requeues the execution."""
        claimed, worker = slot.claimed, self.name
        for attempt in range(_RECORD_TRIES):
            try:
                if outcome.kind == "succeeded":
                    await self._queue.succeed(
                        claimed, worker=worker, result=outcome.result, detail=outcome.detail
                    )
                elif outcome.kind in ("failed", "timed_out"):
                    ended = await self._queue.fail(
                        claimed,
                        worker=worker,
                        error=outcome.error,
                        retryable=outcome.retryable,
                        timed_out=outcome.kind == "timed_out",
                        result=outcome.result,
                        detail=outcome.detail,
                        retry_at_ns=outcome.retry_at_ns,
                    )
                    if ended is ExecutionStatus.QUEUED:  # a retry: note when it comes due
                        self.wake()
                elif outcome.kind == "deferred":
                    await self._queue.defer(claimed, worker=worker, until_ns=outcome.retry_at_ns)
                    self.wake()
                elif slot.reason == "cancel":
                    await self._queue.cancelled(claimed, worker=worker)
                elif slot.reason == "release":
                    await self._queue.release(claimed, worker=worker)
                return
            except Exception as exc:
                log.error(
                    "workers.record_failed",
                    execution=claimed.id,
                    tries=attempt + 1,
                    error=repr(exc),
                )
                await asyncio.sleep(0.2 * 2**attempt)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
