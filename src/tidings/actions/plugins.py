"""`python` actions: runners that installed distributions declare in the `tidings.actions`
entry-point group.

A distribution declares, in its `pyproject.toml`:

    [project.entry-points."tidings.actions"]
    greet = "my_pack.actions:greet"

and an action with runner `python` and entry point `greet` runs `my_pack.actions.greet(ctx)`, with
the same `ActionContext` the built-ins get. An `async def` is awaited (and cancelled at the
timeout); a plain function runs in a thread, where a timeout abandons it rather than stops it.

`importlib.metadata` is the standard way to find entry points (no plugin framework needed); each
entry point is loaded once per process.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from tidings.actions.runner import ActionContext, ActionFailed
from tidings.domain.json import JSONValue

ENTRY_POINT_GROUP = "tidings.actions"


@cache
def load_entry_point(name: str) -> Callable[[ActionContext], Any]:
    """The callable an installed distribution registered as `name`, or a non-retryable failure."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        raise ActionFailed(
            f"no '{ENTRY_POINT_GROUP}' entry point named '{name}' is installed", retryable=False
        )
    entry = next(iter(found))
    try:
        loaded = entry.load()
    except Exception as exc:  # an import error in the plugin is its bug, reported by name
        raise ActionFailed(
            f"entry point '{name}' ({entry.value}) failed to load: {type(exc).__name__}: {exc}",
            retryable=False,
        ) from exc
    if not callable(loaded):
        raise ActionFailed(f"entry point '{name}' ({entry.value}) is not callable", retryable=False)
    function: Callable[[ActionContext], Any] = loaded
    return function


async def run_entry_point(ctx: ActionContext) -> JSONValue:
    """Run the action's entry point with the context; its return value is the result."""
    if not ctx.entry_point:
        raise ActionFailed("a python action needs an entry point", retryable=False)
    function = load_entry_point(ctx.entry_point)
    if inspect.iscoroutinefunction(function):
        result: JSONValue = await function(ctx)
        return result
    outcome = await asyncio.to_thread(function, ctx)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    value: JSONValue = outcome
    return value
