"""What an action runner is given and what it returns.

A runner is an async callable from an `ActionContext` to a JSON result; it reports failure by
raising `ActionFailed`, saying whether trying again could help. Everything a runner may touch
comes in through the context — the guarded HTTP client, a callback that emits an event, the pack's
config — so actions never import services (the ingest path, the database) and a plugin sees the
same narrow surface as a built-in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from tidings.actions.guarded_http import GuardedClient
from tidings.domain.events import NewEvent
from tidings.domain.json import JSONObject, JSONValue

# Records an event in the execution's tenant, as the execution; returns the event's id.
EmitEvent = Callable[[NewEvent], Awaitable[int]]
# Loads the config (secrets included) of the pack the action belongs to.
LoadPackConfig = Callable[[], Awaitable[JSONObject]]


class ActionFailed(Exception):
    """An action that did not succeed; `message` is shown to users, so it holds no secrets.

    `retry_at_ns` is when the next attempt should be, if the action knows better than the
    retry policy (a receiver's Retry-After); the policy still bounds how many there are.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        result: JSONValue = None,
        retry_at_ns: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.result = result
        self.retry_at_ns = retry_at_ns


class ActionDeferred(Exception):
    """The action cannot start before `until_ns` (a rate it must keep): the execution goes back
    on the queue, due then, and the attempt does not count."""

    def __init__(self, until_ns: int) -> None:
        super().__init__(f"deferred until {until_ns}")
        self.until_ns = until_ns


@dataclass(frozen=True)
class ActionSettings:
    """Operator switches that change what actions may do."""

    enable_local_commands: bool = False
    max_output_bytes: int = 65_536


@dataclass(frozen=True)
class ActionContext:
    """One attempt of one execution, as its runner sees it."""

    execution_id: int
    tenant_id: int
    action_ref: str
    parameters: JSONObject
    timeout_seconds: float
    attempt: int
    http: GuardedClient
    emit: EmitEvent
    pack_config: LoadPackConfig
    settings: ActionSettings
    entry_point: str | None = None
    # What this attempt saw, for its record (a delivery's status code and response excerpt).
    detail: JSONObject = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this execution: receivers drop duplicates by it."""
        return f"{self.tenant_id}-{self.execution_id}"


class Runner(Protocol):
    """Runs an action: a JSON result, or `ActionFailed`."""

    async def __call__(self, ctx: ActionContext) -> JSONValue:
        """Run once, within the context's timeout (the worker cancels past it)."""
        ...


def text_parameter(ctx: ActionContext, name: str, *, required: bool = False) -> str | None:
    """A string parameter, or a non-retryable failure naming it."""
    value = ctx.parameters.get(name)
    if value is None:
        if required:
            raise ActionFailed(f"parameter '{name}' is required", retryable=False)
        return None
    if not isinstance(value, str):
        raise ActionFailed(f"parameter '{name}' must be a string", retryable=False)
    return value


def number_parameter(ctx: ActionContext, name: str) -> float | None:
    """A positive number parameter (None when absent), or a non-retryable failure naming it."""
    value = ctx.parameters.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ActionFailed(f"parameter '{name}' must be a positive number", retryable=False)
    return float(value)
