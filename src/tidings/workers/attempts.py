"""One attempt of an execution: find its runner, build its context, run it under its timeout,
and say how it ended as a value (`Outcome`) for the pool to record.

Kept apart from the pool (`pool.py`), which decides what runs when and records outcomes; this is
what running one means. What an action returns or says is redacted of the secrets its sealed
parameters hid, and a crashing runner's message and traceback too.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import orjson
import structlog

from tidings.actions.guarded_http import GuardedClient
from tidings.actions.runner import (
    ActionContext,
    ActionDeferred,
    ActionFailed,
    ActionSettings,
    EmitEvent,
    LoadPackConfig,
    Runner,
)
from tidings.domain.json import JSONObject, JSONValue
from tidings.domain.redaction import hidden_strings, redact, redact_text
from tidings.services.execution_queue import ExecutionQueue, ParametersUnreadable
from tidings.storage.executions import ClaimedExecution

log = structlog.get_logger(__name__)

StopReason = Literal["cancel", "lost", "release"]


@dataclass
class Slot:
    """An execution a pool holds: its task, the action's own task, and why it was stopped."""

    claimed: ClaimedExecution
    task: asyncio.Task[None] | None = None
    inner: asyncio.Task[JSONValue] | None = None
    reason: StopReason | None = None


@dataclass
class Outcome:
    """How an attempt ended, as a value the pool records."""

    kind: Literal["succeeded", "failed", "timed_out", "stopped", "deferred"]
    result: bytes | None = None
    error: str = ""
    retryable: bool = False
    detail: JSONObject | None = None  # what the attempt saw, for its record
    retry_at_ns: int | None = None  # when to try again (failed), or to start (deferred)


def _succeeded(value: JSONValue) -> Outcome:
    try:
        result = None if value is None else orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        return Outcome("failed", error=f"the result is not JSON: {exc}")
    return Outcome("succeeded", result=result)


class Attempts:
    """Runs attempts with what every action gets: the HTTP client, an emitter, pack config."""

    def __init__(
        self,
        *,
        queue: ExecutionQueue,
        http: GuardedClient,
        emitter: Callable[[ClaimedExecution], EmitEvent],
        pack_config: Callable[[ClaimedExecution], LoadPackConfig],
        action_settings: ActionSettings,
        runners: Mapping[str, Runner],
    ) -> None:
        self._queue = queue
        self._http = http
        self._emitter = emitter
        self._pack_config = pack_config
        self._action_settings = action_settings
        self._runners = runners

    async def run(self, slot: Slot) -> Outcome:
        """Run one attempt; what happened, as a value (the pool's own cancellation aside).

        What the action returns or says is redacted of the secrets its parameters hid.
        """
        detail: JSONObject = {}
        outcome = await self._run(slot, detail)
        if detail:
            hidden = frozenset[str]()
            if slot.claimed.sealed_parameters is not None:
                hidden = hidden_strings(
                    slot.claimed.parameters, self._queue.parameters(slot.claimed)
                )
            shown = redact(detail, hidden)
            outcome.detail = shown if isinstance(shown, dict) else None
        return outcome

    async def _run(self, slot: Slot, detail: JSONObject) -> Outcome:
        claimed = slot.claimed
        hidden: frozenset[str] = frozenset()
        try:
            runner = self._runner(claimed)
            ctx = self._context(claimed, detail)
            if claimed.sealed_parameters is not None:
                hidden = hidden_strings(claimed.parameters, ctx.parameters)
            slot.inner = asyncio.get_running_loop().create_task(runner(ctx))
            if slot.reason is not None:  # stopped before it could start
                slot.inner.cancel()
            async with asyncio.timeout(claimed.timeout_seconds):
                value = await slot.inner
            return _succeeded(redact(value, hidden))
        except ActionFailed as failed:
            shown = None if failed.result is None else redact(failed.result, hidden)
            result = None if shown is None else orjson.dumps(shown)
            message = redact_text(failed.message, hidden)
            return Outcome(
                "failed", result, message, failed.retryable, retry_at_ns=failed.retry_at_ns
            )
        except ActionDeferred as deferred:
            return Outcome("deferred", retry_at_ns=deferred.until_ns)
        except TimeoutError:
            return Outcome(
                "timed_out", error=f"timed out after {claimed.timeout_seconds:g} s", retryable=True
            )
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if slot.reason is None or (current is not None and current.cancelling()):
                raise  # the pool itself is being torn down
            return Outcome("stopped")
        except Exception as exc:
            return self._crashed(claimed, exc, hidden)

    def _crashed(
        self, claimed: ClaimedExecution, exc: Exception, hidden: frozenset[str]
    ) -> Outcome:
        """An action that raised something other than ActionFailed: a bug, retried; its
        message and traceback are redacted before they are stored or logged."""
        trace = "".join(traceback.format_exception(exc))
        log.error(
            "workers.action_crashed",
            execution=claimed.id,
            runner=claimed.runner,
            traceback=redact_text(trace, hidden),
        )
        message = redact_text(f"{type(exc).__name__}: {exc}", hidden)
        return Outcome("failed", error=message, retryable=True)

    def _runner(self, claimed: ClaimedExecution) -> Runner:
        runner = self._runners.get(claimed.runner)
        if runner is None:
            known = ", ".join(sorted(self._runners))
            raise ActionFailed(
                f"unknown runner '{claimed.runner}' (known: {known})", retryable=False
            )
        return runner

    def _context(self, claimed: ClaimedExecution, detail: JSONObject) -> ActionContext:
        try:
            parameters = self._queue.parameters(claimed)
        except ParametersUnreadable as exc:
            raise ActionFailed(
                f"the sealed parameters cannot be opened: {exc}", retryable=False
            ) from exc
        if not isinstance(parameters, dict):
            raise ActionFailed("parameters must be a JSON object", retryable=False)
        return ActionContext(
            execution_id=claimed.id,
            tenant_id=claimed.tenant_id,
            action_ref=claimed.action_ref,
            parameters=parameters,
            timeout_seconds=claimed.timeout_seconds,
            attempt=claimed.attempt,
            http=self._http,
            emit=self._emitter(claimed),
            pack_config=self._pack_config(claimed),
            settings=self._action_settings,
            entry_point=claimed.entry_point,
            detail=detail,
        )
