"""Action contexts for calling runners directly, as the worker pool would."""

from __future__ import annotations

from tidings.actions.guarded_http import GuardedClient
from tidings.actions.runner import ActionContext, ActionSettings, EmitEvent
from tidings.domain.events import NewEvent
from tidings.domain.json import JSONObject


async def _no_emit(new: NewEvent) -> int:
    raise AssertionError("this action must not emit")


def context(
    http: GuardedClient,
    parameters: JSONObject,
    *,
    settings: ActionSettings | None = None,
    emit: EmitEvent = _no_emit,
    pack: JSONObject | None = None,
    timeout: float = 5.0,
    entry_point: str | None = None,
) -> ActionContext:
    """Execution 42 of tenant 7."""

    async def pack_config() -> JSONObject:
        return pack or {}

    return ActionContext(
        execution_id=42,
        tenant_id=7,
        action_ref="core.test",
        parameters=parameters,
        timeout_seconds=timeout,
        attempt=1,
        http=http,
        emit=emit,
        pack_config=pack_config,
        settings=settings or ActionSettings(),
        entry_point=entry_point,
    )
