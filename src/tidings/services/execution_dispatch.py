"""Direct hand-off: executions enqueued by this process go straight to this process's pool.

The durable queue alone costs every execution a claim: a wake-up, a transaction of its own and a
commit between the event's commit and the action's start (~6 ms of CPU and 10 to 15 ms of latency
each, BENCHMARKS.md §10). When the enqueuing transaction knows the pool beside it has room, it can
write the rows already claimed — running, leased to that pool, first attempt begun — and hand
them over once it commits. Nothing about durability changes: the rows are committed with the
event, and if the process dies before or while running them their lease expires and any worker's
reaper puts them back on the queue, exactly as for a claimed execution (Temporal's "eager
activity dispatch" makes the same trade).

Slots are reserved before the rows are written, so the pool never holds more than its
concurrency; a transaction that rolls back or runs again gives its reservation back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import (
    ENFORCEMENT_FOR_EXECUTION,
    EnforcementStatus,
    ExecutionStatus,
    NewExecution,
)
from tidings.storage import executions as execution_store
from tidings.storage.executions import ClaimedExecution


class LocalPool(Protocol):
    """The worker pool of this process, as an enqueuer sees it."""

    @property
    def name(self) -> str:
        """The lease owner its claims are written with."""
        ...

    @property
    def lease_seconds(self) -> float:
        """How long a lease lasts before the pool must renew it."""
        ...

    def reserve(self, wanted: int) -> int:
        """Hold up to `wanted` free slots; how many it got (0 when full or stopping)."""
        ...

    def unreserve(self, count: int) -> None:
        """Give back `count` held slots that will not be used."""
        ...

    def adopt(self, claimed: Sequence[ClaimedExecution]) -> None:
        """Run executions written leased to this pool, each in a slot held for it."""
        ...


class Handoff:
    """The executions one write transaction leased to the local pool; delivered after commit.

    Call `abandon` at the start of the transaction's work too (work may run twice: an earlier
    run's rows were rolled back), `deliver` after the commit, and `abandon` if it failed.
    """

    def __init__(self, pool: LocalPool) -> None:
        self._pool = pool
        self._held = 0
        self._claimed: list[ClaimedExecution] = []

    @property
    def worker(self) -> str:
        """The lease owner to write."""
        return self._pool.name

    @property
    def lease_ns(self) -> int:
        """The lease to write, in nanoseconds from now."""
        return int(self._pool.lease_seconds * 1_000_000_000)

    def reserve(self, wanted: int) -> int:
        """Slots for up to `wanted` executions of this transaction; how many."""
        got = self._pool.reserve(wanted) if wanted > 0 else 0
        self._held += got
        return got

    def add(self, claimed: Sequence[ClaimedExecution]) -> None:
        """Executions this transaction wrote leased to the pool (within what was reserved)."""
        self._claimed.extend(claimed)

    def abandon(self) -> None:
        """The transaction did not commit (or is starting over): give every held slot back."""
        self._pool.unreserve(self._held)
        self._held = 0
        self._claimed = []

    def deliver(self) -> None:
        """The transaction committed: start what it leased, give back what it did not use."""
        claimed, unused = self._claimed, self._held - len(self._claimed)
        self._held, self._claimed = 0, []
        if unused:
            self._pool.unreserve(unused)
        if claimed:
            self._pool.adopt(claimed)


def handoff_for(pool: LocalPool | None) -> Handoff | None:
    """A hand-off to `pool` for one transaction, or None when this process runs no workers."""
    return None if pool is None else Handoff(pool)


@dataclass(frozen=True)
class Written:
    """What `write_executions` did: how many went to the queue, and the status the enforcements
    of the others take (running: handed to the local pool; failed: unrun). Their rows are
    written after, with that status, rather than updated to it (a statement less)."""

    queued: int
    enforcement_status: dict[int, EnforcementStatus]


async def write_executions(
    conn: AsyncConnection,
    executions: Sequence[NewExecution],
    failures: Sequence[tuple[int, str]],
    *,
    handoff: Handoff | None,
    now: int,
) -> Written:
    """Write new executions, before their enforcement rows: as many runnable ones as the local
    pool has room for leased to it, the rest queued (and announced), those that cannot run
    (`failures`: index and why) failed unrun."""
    failed = {i for i, _ in failures}
    runnable = [e for i, e in enumerate(executions) if i not in failed]
    leased = handoff.reserve(len(runnable)) if handoff is not None and runnable else 0
    status: dict[int, EnforcementStatus] = {}
    if handoff is not None and leased:
        handed, runnable = runnable[:leased], runnable[leased:]
        claimed = await execution_store.insert_leased(
            conn,
            rows=handed,
            worker=handoff.worker,
            now=now,
            lease_ns=handoff.lease_ns,
            mark_enforcements=False,
        )
        handoff.add(claimed)
        running = ENFORCEMENT_FOR_EXECUTION[ExecutionStatus.RUNNING]
        status |= {c.enforcement_id: running for c in claimed if c.enforcement_id is not None}
    rows = runnable + [executions[i] for i, _ in failures]
    ids = await execution_store.insert_executions(conn, rows=rows, now=now)
    if failures:
        unrun = [(ids[len(runnable) + n], message) for n, (_, message) in enumerate(failures)]
        await execution_store.fail_unrun(conn, failures=unrun, now=now, mark_enforcements=False)
        gave_up = ENFORCEMENT_FOR_EXECUTION[ExecutionStatus.FAILED]
        for i, _ in failures:
            enforcement = executions[i].enforcement_id
            if enforcement is not None:
                status[enforcement] = gave_up
    if runnable:
        await execution_store.announce(conn)
    return Written(len(runnable), status)
