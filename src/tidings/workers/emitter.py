"""Events emitted by actions (`emit_event`) enter through ingest, like any other event.

So the rules of the new event's trigger are evaluated in its commit and its executions are
queued — rules chain. Each emission carries the idempotency key `tidings-execution-<id>`: when an
execution runs again after a crash, ingest replays the first emission instead of recording the
event twice. The event is recorded as the worker (actor id 0, no principal row) with the request id
`execution-<id>`, which ties it to the execution that made it.

Those ties make chains measurable: an emission whose execution descends from MAX_CHAIN emissions
already is refused (non-retryable, naming the chain), so a rule that emits its own trigger's
event — directly or around a cycle of rules — stops instead of looping for ever.
"""

from __future__ import annotations

import hashlib

import orjson

from tidings.actions.runner import ActionFailed, EmitEvent
from tidings.domain.access import Principal, internal_writer
from tidings.domain.errors import TidingsError, Unavailable
from tidings.domain.events import Event, NewEvent
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.ingest import IdempotencyClaim, Ingestor
from tidings.storage.execution_history import EMITTED_PREFIX
from tidings.storage.executions import ClaimedExecution

MAX_CHAIN = 10


def _render(stored: list[Event]) -> tuple[int, bytes]:
    return 201, orjson.dumps([event.id for event in stored])


class Emitter:
    """Builds the `emit` callback of each execution."""

    def __init__(self, ingest: Ingestor, queue: ExecutionQueue) -> None:
        self._ingest = ingest
        self._queue = queue
        self._locators: dict[int, str] = {}

    def for_execution(self, claimed: ClaimedExecution) -> EmitEvent:
        """The callback that records an event as `claimed`'s action."""

        async def emit(new: NewEvent) -> int:
            depth = await self._queue.emission_depth(claimed.id, limit=MAX_CHAIN)
            if depth >= MAX_CHAIN:
                raise ActionFailed(
                    f"refused: this execution descends from {MAX_CHAIN} emitted events already "
                    "(a rule that emits its own trigger's event?)",
                    retryable=False,
                )
            principal = await self._principal(claimed.tenant_id)
            fingerprint = hashlib.sha256(repr(new).encode()).hexdigest()
            try:
                outcome = await self._ingest.ingest(
                    principal=principal,
                    new_events=[new],
                    request_id=f"{EMITTED_PREFIX}{claimed.id}",
                    render=_render,
                    claim=IdempotencyClaim(f"tidings-execution-{claimed.id}", fingerprint),
                )
            except Unavailable as exc:
                raise ActionFailed(exc.message, retryable=True) from exc
            except TidingsError as exc:  # the event is invalid for its trigger, say
                raise ActionFailed(exc.message, retryable=False) from exc
            ids: list[int] = orjson.loads(outcome.body)
            return ids[0]

        return emit

    async def _principal(self, tenant_id: int) -> Principal:
        locator = self._locators.get(tenant_id)
        if locator is None:
            locator = self._locators[tenant_id] = await self._queue.tenant_locator(tenant_id)
        return internal_writer(tenant_id=tenant_id, tenant_locator=locator, name="tidings-worker")
