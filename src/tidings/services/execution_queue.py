"""The worker's side of the execution queue: claim, renew, and record how each attempt ended.

Every write goes through `Database.write`, the group committer: on SQLite that is the one writer
connection the whole process shares (a worker with a connection of its own would contend with
ingest for SQLite's lock), and on PostgreSQL it folds the writes of many concurrent executions
into one commit. Finishes reported while a write is pending are recorded together, in a few
statements (`_Finishes`): that took a noop-draining pool from ~330 to ~1,400 executions a second
on PostgreSQL here. The retry policy is applied in this one place, for failures a worker reports
and for leases that expired under a crashed worker alike.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.automation import ExecutionStatus
from tidings.domain.clock import Clock
from tidings.domain.json import JSONObject, JSONValue
from tidings.domain.retry import PROPORTIONAL_SPREAD, RetryPolicy
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.database import Database
from tidings.services.rule_engine import EXECUTION_SECRETS, PACK_SECRETS
from tidings.services.secret_box import SecretBox, SecretUnreadable
from tidings.storage import catalogue as catalogue_store
from tidings.storage import execution_history as history_store
from tidings.storage import execution_outcomes as outcome_store
from tidings.storage import executions as execution_store
from tidings.storage import tenants as tenant_store
from tidings.storage.executions import ClaimedExecution, LeaseCheck

log = structlog.get_logger(__name__)

LEASE_EXPIRED = "lease expired"
REAP_BATCH = 100
# Rows changed in the queue's tables after which the workers refresh PostgreSQL's statistics.
ANALYZE_AFTER_CHANGES = 5_000


class ParametersUnreadable(Exception):
    """An execution's sealed parameters do not open with this instance's key."""


def _ns(seconds: float) -> int:
    return int(seconds * NS_PER_SECOND)


class ExecutionQueue:
    """Claims, lease renewals and outcomes for the workers of one process."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        box: SecretBox,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._box = box
        self._policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._finishes = _Finishes(db, clock)

    async def claim(
        self, *, worker: str, limit: int, lease_seconds: float
    ) -> list[ClaimedExecution]:
        """Take up to `limit` due executions under a lease held by `worker`."""
        now = self._clock.now_ns()
        return await self._db.write(
            lambda conn: execution_store.claim(
                conn, worker=worker, limit=limit, now=now, lease_ns=_ns(lease_seconds)
            )
        )

    async def renew(self, *, worker: str, ids: list[int], lease_seconds: float) -> LeaseCheck:
        """Extend `worker`'s leases; say which are still held and which should be cancelled."""
        now = self._clock.now_ns()
        return await self._db.write(
            lambda conn: execution_store.renew_leases(
                conn, worker=worker, ids=ids, now=now, lease_ns=_ns(lease_seconds)
            )
        )

    async def succeed(
        self,
        claimed: ClaimedExecution,
        *,
        worker: str,
        result: bytes | None,
        detail: JSONObject | None = None,
    ) -> bool:
        """Record a success and its result; False when the lease had been lost."""
        return await self._finish(
            claimed, worker, ExecutionStatus.SUCCEEDED, "succeeded", None, result, detail
        )

    async def cancelled(self, claimed: ClaimedExecution, *, worker: str) -> bool:
        """Record that the worker stopped a running execution at a user's request."""
        return await self._finish(
            claimed, worker, ExecutionStatus.CANCELLED, "cancelled", "cancelled by request", None
        )

    async def fail(
        self,
        claimed: ClaimedExecution,
        *,
        worker: str,
        error: str,
        retryable: bool,
        timed_out: bool = False,
        result: bytes | None = None,
        detail: JSONObject | None = None,
        retry_at_ns: int | None = None,
    ) -> ExecutionStatus | None:
        """Retry later as the policy says, or give up; the status it ends in (None: lease lost).

        `retry_at_ns` is when the action asked to be tried again (a receiver's Retry-After, say);
        it replaces the policy's delay, but not its limit on attempts."""
        outcome = ExecutionStatus.TIMED_OUT if timed_out else ExecutionStatus.FAILED
        delay = self._delay(
            claimed.attempt, claimed.max_attempts, retryable, claimed.retry_schedule
        )
        if delay is None:
            done = await self._finish(
                claimed, worker, outcome, outcome.value, error, result, detail
            )
            return outcome if done else None
        now = self._clock.now_ns()
        due = now + _ns(delay) if retry_at_ns is None else max(now, retry_at_ns)
        return await self._db.write(
            lambda conn: outcome_store.requeue(
                conn,
                execution_id=claimed.id,
                worker=worker,
                attempt=claimed.attempt,
                available_at=due,
                outcome=outcome.value,
                error=error,
                now=now,
                detail=detail,
            )
        )

    async def release(self, claimed: ClaimedExecution, *, worker: str) -> bool:
        """Give an execution back to the queue, due now, its attempt refunded (worker stopping)."""
        now = self._clock.now_ns()
        released = await self._db.write(
            lambda conn: outcome_store.requeue(
                conn,
                execution_id=claimed.id,
                worker=worker,
                attempt=claimed.attempt,
                available_at=now,
                outcome="released",
                error="released by a stopping worker",
                now=now,
                refund=True,
            )
        )
        return released is not None

    async def defer(self, claimed: ClaimedExecution, *, worker: str, until_ns: int | None) -> bool:
        """Put an execution back, due at `until_ns`, as if the attempt had not begun: the action
        could not start yet (a Slack URL's one message a second), which is no attempt at all."""
        now = self._clock.now_ns()
        return await self._db.write(
            lambda conn: outcome_store.withdraw(
                conn,
                execution_id=claimed.id,
                worker=worker,
                attempt=claimed.attempt,
                available_at=max(now, until_ns or now),
                now=now,
            )
        )

    async def reap_expired(self) -> int:
        """Requeue, due now (or fail, when out of attempts), executions whose lease expired; how
        many."""
        now = self._clock.now_ns()

        async def work(conn: AsyncConnection) -> int:
            expired = await execution_store.expired_leases(conn, now=now, limit=REAP_BATCH)
            for lease in expired:
                # Due at once: its lease kept it waiting already, and the action never said it
                # failed. The attempt still counts, so an execution that crashes its worker every
                # time ends failed after its attempts rather than looping forever. The policy
                # says whether attempts remain; its delay is not used.
                retry = self._delay(lease.attempt, lease.max_attempts, True, lease.retry_schedule)
                if retry is None:
                    ended = outcome_store.Finished(
                        execution_id=lease.id,
                        worker=lease.worker,
                        attempt=lease.attempt,
                        status=ExecutionStatus.FAILED,
                        outcome="lease_expired",
                        error=LEASE_EXPIRED,
                    )
                    await outcome_store.finish_many(conn, items=[ended], now=now)
                    continue
                await outcome_store.requeue(
                    conn,
                    execution_id=lease.id,
                    worker=lease.worker,
                    attempt=lease.attempt,
                    available_at=now,
                    outcome="lease_expired",
                    error=LEASE_EXPIRED,
                    now=now,
                )
            if expired:
                await execution_store.announce(conn)
            return len(expired)

        reaped = await self._db.write(work)
        if reaped:
            log.warning("executions.leases_expired", count=reaped)
        return reaped

    async def refresh_statistics(self, *, after_changes: int = ANALYZE_AFTER_CHANGES) -> bool:
        """ANALYZE the queue's tables once enough rows changed since the last time; whether it did.

        The tables start empty and can fill with thousands of rows in seconds, long before
        autovacuum's analyze (a minute's naptime, then 10% of the rows changed). Meanwhile
        PostgreSQL plans every claim for an empty table, sorting all queued rows each time: a
        20,000-row queue drained at half the speed of a short one (BENCHMARKS.md §8). Sampling
        takes milliseconds; plans cached by prepared statements are invalidated by it.
        """
        async with self._db.read() as conn:
            changed = await execution_store.changes_since_analyze(conn)
        if changed < after_changes:
            return False
        async with self._db.transaction() as conn:
            await execution_store.analyze(conn)
        log.info("executions.statistics_refreshed", changed=changed)
        return True

    async def seconds_until_due(self) -> float | None:
        """How long until the earliest queued execution is due (0 if it is), or None if none."""
        async with self._db.read() as conn:
            due = await execution_store.next_due(conn)
        if due is None:
            return None
        return max(0.0, (due - self._clock.now_ns()) / NS_PER_SECOND)

    def parameters(self, claimed: ClaimedExecution) -> JSONValue:
        """The parameters to run with: the sealed real ones when there are any."""
        if claimed.sealed_parameters is None:
            return claimed.parameters
        try:
            return self._box.open(
                claimed.sealed_parameters, purpose=EXECUTION_SECRETS, tenant_id=claimed.tenant_id
            )
        except SecretUnreadable as exc:
            raise ParametersUnreadable(str(exc)) from exc

    async def pack_config(self, *, tenant_id: int, action_ref: str) -> JSONObject:
        """The config (secrets opened) of the pack an action belongs to; {} without one."""
        pack_ref = action_ref.split(".", 1)[0]
        async with self._db.read() as conn:
            pack = await catalogue_store.find_pack(conn, tenant_id=tenant_id, ref=pack_ref)
            if pack is None:
                return {}
            sealed = await catalogue_store.pack_secrets(conn, tenant_id=tenant_id, pack_id=pack.id)
        config: JSONObject = dict(pack.config)
        if sealed is not None:
            try:
                opened = self._box.open(sealed, purpose=PACK_SECRETS, tenant_id=tenant_id)
            except SecretUnreadable:
                log.error("executions.pack_secrets_unreadable", tenant_id=tenant_id, pack=pack_ref)
            else:
                if isinstance(opened, dict):
                    config.update(opened)
        return config

    async def emission_depth(self, execution_id: int, *, limit: int) -> int:
        """How many `emit_event` executions led to this one (counted up to `limit`)."""
        async with self._db.read() as conn:
            chain = await history_store.emission_chain(conn, execution_id=execution_id, limit=limit)
        return len(chain)

    async def tenant_locator(self, tenant_id: int) -> str:
        """The locator of a tenant (events emitted by actions carry it to the rule engine)."""
        async with self._db.read() as conn:
            tenant = await tenant_store.find_tenant(conn, tenant_id=tenant_id)
        return "" if tenant is None else tenant.locator

    async def _finish(
        self,
        claimed: ClaimedExecution,
        worker: str,
        status: ExecutionStatus,
        outcome: str,
        error: str | None,
        result: bytes | None,
        detail: JSONObject | None = None,
    ) -> bool:
        """Record an end, together with every other end reported meanwhile (see `_Finishes`)."""
        item = outcome_store.Finished(
            execution_id=claimed.id,
            worker=worker,
            attempt=claimed.attempt,
            status=status,
            outcome=outcome,
            error=error,
            result=result,
            detail=detail,
        )
        return await self._finishes.record(item)

    def _delay(
        self,
        attempt: int,
        max_attempts: int,
        retryable: bool,
        schedule: tuple[float, ...] | None = None,
    ) -> float | None:
        """Seconds until the next attempt, or None to give up. An execution with a schedule of
        its own (a delivery's: `schedule[n]` precedes attempt n + 1) waits that long, ±20%."""
        if schedule is None:
            policy = replace(self._policy, max_attempts=max(1, max_attempts))
            return policy.next_delay(attempt, retryable=retryable, rng=self._rng)
        if not retryable or attempt >= max_attempts or attempt >= len(schedule):
            return None
        spread = self._rng.uniform(1 - PROPORTIONAL_SPREAD, 1 + PROPORTIONAL_SPREAD)
        return schedule[attempt] * spread


class _Finishes:
    """Executions that end while a write is pending are recorded together by the next one.

    Ingest's pattern: the first end of a group schedules the write, which takes every end reported
    until it runs, so a busy pool spends a few statements per commit rather than a few per
    execution (`finish_many`).
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._waiting: list[tuple[outcome_store.Finished, asyncio.Future[bool]]] = []
        self._writes: set[asyncio.Task[None]] = set()

    async def record(self, item: outcome_store.Finished) -> bool:
        """Whether the end was recorded (False: the lease had been lost)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((item, future))
        if len(self._waiting) == 1:
            task = loop.create_task(self._write())
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
        return await future

    async def _write(self) -> None:
        taken: list[tuple[outcome_store.Finished, asyncio.Future[bool]]] | None = None

        async def work(conn: AsyncConnection) -> set[int]:
            nonlocal taken
            if taken is None:  # the committer may run work twice; take the group only once
                taken, self._waiting = self._waiting, []
            items = [item for item, _ in taken]
            return await outcome_store.finish_many(conn, items=items, now=self._clock.now_ns())

        try:
            done = await self._db.write(work)
        except Exception as exc:
            if taken is None:
                taken, self._waiting = self._waiting, []
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return
        assert taken is not None
        for item, future in taken:
            if not future.done():
                future.set_result(item.execution_id in done)
