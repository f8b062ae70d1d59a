"""`local_command`: run a program on the worker's host — off unless the operator enables it.

A rule that runs commands turns an event into code execution on the host, so the runner refuses
to run unless `TIDINGS_ENABLE_LOCAL_COMMANDS` is set. When enabled it still does the least it can:
`argv` is executed directly (no shell, so parameters rendered from an event cannot inject shell
syntax); the child gets a minimal environment (the worker's holds the database URL and the secret
key), plus the `env` it is given; it runs in a session of its own so a timeout kills it and
everything it started; and only the first `max_output_bytes` of stdout and of stderr are kept,
while the rest is read and dropped so the child never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from tidings.actions.runner import ActionContext, ActionFailed, number_parameter, text_parameter
from tidings.domain.json import JSONValue

DISABLED = (
    "local commands are disabled on this instance; an operator can enable them with "
    "TIDINGS_ENABLE_LOCAL_COMMANDS=1"
)
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_CHUNK = 65_536


def _argv(ctx: ActionContext) -> list[str]:
    argv = ctx.parameters.get("argv")
    if (
        not isinstance(argv, list)
        or not argv
        or not all(isinstance(a, str) and "\x00" not in a for a in argv)
    ):
        raise ActionFailed(
            "parameter 'argv' must be a non-empty list of strings (program, then arguments)",
            retryable=False,
        )
    return [a for a in argv if isinstance(a, str)]


def _environment(ctx: ActionContext) -> dict[str, str]:
    given = ctx.parameters.get("env")
    if given is None:
        given = {}
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise ActionFailed("parameter 'env' must map names to strings", retryable=False)
    env = {"PATH": os.environ.get("PATH", _DEFAULT_PATH), "LANG": "C.UTF-8"}
    env.update({k: v for k, v in given.items() if isinstance(v, str)})
    return env


async def _capture(stream: asyncio.StreamReader | None, limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes of a stream, read to its end; and whether more followed."""
    if stream is None:
        return b"", False
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(_CHUNK):
        room = limit - len(kept)
        if len(chunk) > room:
            truncated = True
        kept += chunk[: max(room, 0)]
    return bytes(kept), truncated


def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's whole session (it may have started children of its own)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


async def run_local_command(ctx: ActionContext) -> JSONValue:
    """Run `argv` with optional `env`, `cwd` and `timeout` (seconds); fail on a non-zero exit."""
    if not ctx.settings.enable_local_commands:
        raise ActionFailed(DISABLED, retryable=False)
    argv = _argv(ctx)
    env = _environment(ctx)
    cwd = text_parameter(ctx, "cwd")
    requested = number_parameter(ctx, "timeout")
    timeout = ctx.timeout_seconds if requested is None else min(requested, ctx.timeout_seconds)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise ActionFailed(f"cannot run '{argv[0]}': {exc.strerror}", retryable=False) from exc
    limit = ctx.settings.max_output_bytes
    try:
        async with asyncio.timeout(timeout):
            (stdout, out_cut), (stderr, err_cut) = await asyncio.gather(
                _capture(process.stdout, limit), _capture(process.stderr, limit)
            )
            code = await process.wait()
    finally:  # timed out or cancelled: nothing of the command may outlive the attempt
        _kill(process)
        if process.returncode is None:
            await asyncio.shield(process.wait())
    result: JSONValue = {
        "exit_code": code,
        "stdout": stdout.decode("utf-8", errors="replace"),
        "stderr": stderr.decode("utf-8", errors="replace"),
        "stdout_truncated": out_cut,
        "stderr_truncated": err_cut,
    }
    if code != 0:
        raise ActionFailed(f"'{argv[0]}' exited with status {code}", retryable=False, result=result)
    return result
