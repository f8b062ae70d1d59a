"""Ingest: store events in one group-committed transaction and answer only after the commit.

An `Idempotency-Key` makes a retried request return the first answer, byte for byte, and store
nothing twice. The key and its answer are written in the same transaction as the events, so either
both exist or neither does — also across a crash between commit and reply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.access import Permission, Principal, require
from tidings.domain.clock import Clock
from tidings.domain.errors import IdempotencyMismatch
from tidings.domain.events import Event, NewEvent, materialize
from tidings.domain.timestamps import NS_PER_SECOND
from tidings.services.database import Database
from tidings.storage import events as event_store
from tidings.storage import idempotency as idempotency_store

# Renders the stored events as the (status, body) the caller will receive; kept for replays.
Renderer = Callable[[list[Event]], tuple[int, bytes]]


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


class Ingestor:
    """Stores events for authenticated principals."""

    def __init__(self, db: Database, *, clock: Clock, idempotency_ttl_seconds: int) -> None:
        self._db = db
        self._clock = clock
        self._ttl_ns = idempotency_ttl_seconds * NS_PER_SECOND

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

        async def work(conn: AsyncConnection) -> IngestOutcome:
            now = self._clock.now_ns()
            if claim is not None:
                replay = await self._replay(conn, principal.tenant_id, claim, now)
                if replay is not None:
                    return replay
            ids = await event_store.insert_events(
                conn,
                tenant_id=principal.tenant_id,
                new_events=new_events,
                actor_id=principal.id,
                request_id=request_id,
                now=now,
            )
            stored = [
                materialize(
                    new,
                    event_id=event_id,
                    tenant_id=principal.tenant_id,
                    actor_id=principal.id,
                    actor_locator=principal.locator,
                    request_id=request_id,
                    now=now,
                )
                for event_id, new in zip(ids, new_events, strict=True)
            ]
            status_code, body = render(stored)
            if claim is not None:
                await idempotency_store.save_response(
                    conn,
                    tenant_id=principal.tenant_id,
                    key=claim.key,
                    fingerprint=claim.fingerprint,
                    status_code=status_code,
                    body=body,
                    now=now,
                )
            return IngestOutcome(status_code, body, replayed=False, events=tuple(stored))

        try:
            return await self._db.write(work)
        except IntegrityError:
            if claim is None:
                raise
            # Another node stored the same key between our lookup and our insert (PostgreSQL).
            # Its transaction has committed now, so a second attempt replays its answer.
            return await self._db.write(work)

    async def _replay(
        self, conn: AsyncConnection, tenant_id: int, claim: IdempotencyClaim, now: int
    ) -> IngestOutcome | None:
        stored = await idempotency_store.find_response(conn, tenant_id=tenant_id, key=claim.key)
        if stored is None:
            return None
        if stored.created_at + self._ttl_ns <= now:
            await idempotency_store.delete_response(conn, tenant_id=tenant_id, key=claim.key)
            return None
        if stored.fingerprint != claim.fingerprint:
            raise IdempotencyMismatch(
                "Idempotency-Key was already used for a different request; "
                "send a new key for a new request"
            )
        return IngestOutcome(stored.status_code, stored.body, replayed=True)
