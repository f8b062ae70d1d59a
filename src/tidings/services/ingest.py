"""Ingest: store events in group-committed transactions and answer only after the commit.

Concurrent requests are written together. A request joins a queue; the first request of a group
schedules one write, which takes every request waiting when it runs and stores all their events
with a fixed number of statements (one idempotency lookup, one multi-row insert, one insert of
the answers) however many requests there are. Awaiting the database once per request instead
would make each await wait behind every other ready task of a busy event loop, and throughput
would fall as load rose.

An `Idempotency-Key` makes a retried request return the first answer, byte for byte, and store
nothing twice. The key and its answer are written in the same transaction as the events, so either
both exist or neither does — also across a crash between commit and reply.

If a group's transaction fails, every request of it is retried in a transaction of its own, so one
bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require
from tidings.domain.clock import Clock
from tidings.domain.errors import (
    FieldProblem,
    IdempotencyMismatch,
    InvalidInput,
    TidingsError,
    Unavailable,
)
from tidings.domain.events import Event, NewEvent, materialize
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.database import Database
from tidings.services.execution_dispatch import Handoff, LocalPool, handoff_for
from tidings.services.rule_engine import RuleEngine
from tidings.services.subscription_matcher import enqueue_deliveries
from tidings.services.tenant_catalogue import TenantCatalogue
from tidings.services.work_signal import WorkSignal
from tidings.storage import events as event_store
from tidings.storage import idempotency as idempotency_store

# Renders the stored events as the (status, body) the caller will receive; kept for replays.
Renderer = Callable[[list[Event]], tuple[int, bytes]]
_MISMATCH = (
    "Idempotency-Key was already used for a different request; send a new key for a new request"
)


@dataclass(frozen=True)
class IdempotencyClaim:
    """A client's idempotency key and the fingerprint of the request that carried it."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class IngestOutcome:
    """The answer to give, and whether it is a replay of an earlier answer."""

    status_code: int
    body: bytes
    replayed: bool
    events: tuple[Event, ...] = ()


@dataclass
class _Request:
    principal: Principal
    new_events: Sequence[NewEvent]
    request_id: str
    render: Renderer
    claim: IdempotencyClaim | None
    future: asyncio.Future[IngestOutcome] = field(repr=False)

    @property
    def key(self) -> tuple[int, str] | None:
        return None if self.claim is None else (self.principal.tenant_id, self.claim.key)


Result = IngestOutcome | TidingsError


class Ingestor:
    """Stores events for authenticated principals."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        idempotency_ttl_seconds: int,
        engine: RuleEngine | None = None,
        signal: WorkSignal | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._engine = engine
        self._signal = signal
        self._pool: LocalPool | None = None
        self._enqueued = False
        self._ttl_ns = idempotency_ttl_seconds * NS_PER_SECOND
        self._waiting: list[_Request] = []
        self._writes: set[asyncio.Task[None]] = set()

    def attach_pool(self, pool: LocalPool | None) -> None:
        """Hand executions straight to this process's worker pool when it has room
        (`execution_dispatch`); None stops that."""
        self._pool = pool

    async def ingest(
        self,
        *,
        principal: Principal,
        new_events: Sequence[NewEvent],
        request_id: str,
        render: Renderer,
        claim: IdempotencyClaim | None = None,
    ) -> IngestOutcome:
        """Store `new_events` atomically (all or none) and return the rendered answer."""
        require(principal, Permission.EVENTS_WRITE)
        # Payloads are checked against the trigger's schema inside the transaction, with the
        # catalogue as it is then: a check against a cached one could refuse an event that a
        # schema changed since (on any node) now accepts.
        loop = asyncio.get_running_loop()
        request = _Request(principal, new_events, request_id, render, claim, loop.create_future())
        self._waiting.append(request)
        if len(self._waiting) == 1:  # the first of a group schedules its write
            task = loop.create_task(self._write_group())
            self._writes.add(task)  # keep a reference until done (asyncio holds only weak ones)
            task.add_done_callback(self._writes.discard)
        return await request.future

    async def _write_group(self) -> None:
        taken: list[_Request] | None = None
        handoff = handoff_for(self._pool)

        async def work(conn: AsyncConnection) -> list[Result]:
            nonlocal taken
            if taken is None:  # the committer may run work twice; take the queue only once
                taken, self._waiting = self._waiting, []
            return await self._store(conn, taken, handoff)

        try:
            results = await self._db.write(work)
        except Exception as error:
            if handoff is not None:
                handoff.abandon()
            if taken is None:  # failed before the transaction began: nothing was taken
                taken, self._waiting = self._waiting, []
            if isinstance(error, Unavailable):  # an outage fails every request alike
                for request in taken:
                    if not request.future.done():
                        request.future.set_exception(error)
                return
            if len(taken) == 1:
                await self._write_alone(taken[0], first_error=error)
            else:
                for request in taken:
                    await self._write_alone(request)
            return
        assert taken is not None
        self._wake_workers(handoff)
        for request, result in zip(taken, results, strict=True):
            _settle(request, result)

    async def _write_alone(
        self, request: _Request, *, first_error: Exception | None = None
    ) -> None:
        """One request in a transaction of its own, retried once after a cross-node key race."""
        error = first_error
        for _ in range(2):
            if error is not None and not (
                isinstance(error, IntegrityError) and request.claim is not None
            ):
                break
            handoff = handoff_for(self._pool)
            try:
                [result] = await self._db.write(
                    lambda conn: self._store(conn, [request], handoff)  # noqa: B023 (awaited here)
                )
            except Exception as caught:
                if handoff is not None:
                    handoff.abandon()
                # Another node stored the same key between our lookup and our insert: its
                # transaction has committed now, so the next attempt replays its answer.
                error = caught
                continue
            self._wake_workers(handoff)
            _settle(request, result)
            return
        assert error is not None
        if not request.future.done():
            request.future.set_exception(error)

    async def _store(
        self, conn: AsyncConnection, requests: list[_Request], handoff: Handoff | None
    ) -> list[Result]:
        if handoff is not None:
            handoff.abandon()  # an earlier run of this work was rolled back
        now = self._clock.now_ns()
        stored = await self._stored_answers(conn, requests, now)
        results: list[Result | None] = [None] * len(requests)
        to_write: list[int] = []
        first_with_key: dict[tuple[int, str], int] = {}
        for i, request in enumerate(requests):
            key = request.key
            if key is not None and key in stored:
                results[i] = _replay(stored[key], request)
            elif key is not None and key in first_with_key:
                continue  # a retry inside this group: answered from its first request below
            else:
                if key is not None:
                    first_with_key[key] = i
                to_write.append(i)
        catalogues = await self._catalogues(conn, [requests[i] for i in to_write])
        linked: dict[int, Sequence[NewEvent]] = {}
        for i in list(to_write):
            request = requests[i]
            catalogue = catalogues.get(request.principal.tenant_id)
            if catalogue is None:
                linked[i] = request.new_events
                continue
            problems = _payload_problems(catalogue, request.new_events)
            if problems:
                results[i] = InvalidInput.of(*problems)
                to_write.remove(i)
                continue
            linked[i] = [catalogue.with_trigger_id(new) for new in request.new_events]
        entries = [
            (
                event_store.Origin(
                    requests[i].principal.tenant_id,
                    requests[i].principal.id,
                    requests[i].request_id,
                ),
                new,
            )
            for i in to_write
            for new in linked[i]
        ]
        ids = await event_store.insert_from(conn, entries=entries, now=now) if entries else []
        answers: list[dict[str, object]] = []
        stored_by_tenant: dict[int, list[Event]] = {}
        position = 0
        for i in to_write:
            request = requests[i]
            count = len(request.new_events)
            events = [
                materialize(
                    new,
                    event_id=event_id,
                    tenant_id=request.principal.tenant_id,
                    actor_id=request.principal.id,
                    actor_locator=request.principal.locator,
                    request_id=request.request_id,
                    now=now,
                )
                for event_id, new in zip(ids[position : position + count], linked[i], strict=True)
            ]
            position += count
            stored_by_tenant.setdefault(request.principal.tenant_id, []).extend(events)
            status_code, body = request.render(events)
            results[i] = IngestOutcome(status_code, body, replayed=False, events=tuple(events))
            if request.claim is not None:
                answers.append(
                    {
                        "tenant_id": request.principal.tenant_id,
                        "key": request.claim.key,
                        "fingerprint": request.claim.fingerprint,
                        "status_code": status_code,
                        "response": body,
                        "created_at": now,
                    }
                )
        await idempotency_store.save_responses(conn, rows=answers)
        await self._enforce(conn, catalogues, stored_by_tenant, requests, now, handoff)
        for i, request in enumerate(requests):
            if results[i] is None:  # replay the first request of this group with the same key
                key = request.key
                assert key is not None
                first = requests[first_with_key[key]]
                first_result = results[first_with_key[key]]
                assert first_result is not None
                if not isinstance(first_result, IngestOutcome):  # the first was refused
                    results[i] = first_result
                    continue
                assert first.claim is not None
                results[i] = _replay(
                    idempotency_store.StoredResponse(
                        first.claim.fingerprint, first_result.status_code, first_result.body, now
                    ),
                    request,
                )
        return [r for r in results if r is not None]

    async def _catalogues(
        self, conn: AsyncConnection, requests: list[_Request]
    ) -> dict[int, TenantCatalogue]:
        if self._engine is None:
            return {}
        tenant_ids = sorted({r.principal.tenant_id for r in requests})
        return {t: await self._engine.catalogue(conn, t) for t in tenant_ids}

    async def _enforce(
        self,
        conn: AsyncConnection,
        catalogues: dict[int, TenantCatalogue],
        stored: dict[int, list[Event]],
        requests: list[_Request],
        now: int,
        handoff: Handoff | None,
    ) -> None:
        """Evaluate the rules of the stored events' triggers in this same transaction."""
        if self._engine is None:
            return
        locators = {r.principal.tenant_id: r.principal.tenant_locator for r in requests}
        for tenant_id, events in stored.items():
            outcome = await self._engine.enforce(
                conn,
                catalogue=catalogues[tenant_id],
                tenant_id=tenant_id,
                tenant_locator=locators[tenant_id],
                events=events,
                now=now,
                handoff=handoff,
            )
            if outcome.executions:
                self._enqueued = True
            subscriptions = catalogues[tenant_id].subscriptions
            if subscriptions:
                queued = await enqueue_deliveries(
                    conn,
                    subscriptions,
                    tenant_id=tenant_id,
                    events=events,
                    now=now,
                    handoff=handoff,
                )
                self._enqueued = self._enqueued or queued > 0

    def _wake_workers(self, handoff: Handoff | None) -> None:
        """After a commit: start what was handed to this process's pool, and wake its workers
        if executions were left on the queue."""
        if handoff is not None:
            handoff.deliver()
        if self._enqueued and self._signal is not None:
            self._enqueued = False
            self._signal.notify()

    async def _stored_answers(
        self, conn: AsyncConnection, requests: list[_Request], now: int
    ) -> dict[tuple[int, str], idempotency_store.StoredResponse]:
        keys = [key for r in requests if (key := r.key) is not None]
        if not keys:
            return {}
        stored = await idempotency_store.find_responses(conn, keys=keys)
        expired = [k for k, answer in stored.items() if answer.created_at + self._ttl_ns <= now]
        await idempotency_store.delete_responses(conn, keys=expired)
        return {k: v for k, v in stored.items() if k not in expired}


def _payload_problems(
    catalogue: TenantCatalogue, new_events: Sequence[NewEvent]
) -> list[FieldProblem]:
    indexed = len(new_events) > 1
    return [
        problem
        for i, new in enumerate(new_events)
        for problem in catalogue.payload_problems(new, i if indexed else None)
    ]


def _replay(stored: idempotency_store.StoredResponse, request: _Request) -> Result:
    assert request.claim is not None
    if stored.fingerprint != request.claim.fingerprint:
        return IdempotencyMismatch(_MISMATCH)
    return IngestOutcome(stored.status_code, stored.body, replayed=True)


def _settle(request: _Request, result: Result) -> None:
    if request.future.done():  # the caller went away (client disconnected); the write stands
        return
    if isinstance(result, IngestOutcome):
        request.future.set_result(result)
    else:
        request.future.set_exception(result)
