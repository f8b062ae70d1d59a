"""The built-in runners, by the name an action's `runner` column holds.

`noop` and `echo` live here; `http_request` and `slack` are in `http_actions.py`, `emit_event` in
`emit_event.py`, `local_command` in `local_command.py` and `python` (entry-point plugins) in
`plugins.py`.
"""

from __future__ import annotations

from tidings.actions import emit_event, http_actions, local_command, plugins
from tidings.actions.runner import ActionContext, Runner
from tidings.domain.json import JSONValue


async def run_noop(ctx: ActionContext) -> JSONValue:
    """Do nothing, successfully (no result is stored)."""
    return None


async def run_echo(ctx: ActionContext) -> JSONValue:
    """Return the parameters as the result."""
    return ctx.parameters


RUNNERS: dict[str, Runner] = {
    "noop": run_noop,
    "echo": run_echo,
    "emit_event": emit_event.run_emit_event,
    "http_request": http_actions.run_http_request,
    "slack": http_actions.run_slack,
    "local_command": local_command.run_local_command,
    "python": plugins.run_entry_point,
}
