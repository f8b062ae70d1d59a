"""Actions that run code on the worker's host: local commands as real processes, and python
actions from an installed distribution's entry points."""

from __future__ import annotations

import os
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.action_contexts import context
from tidings.actions import plugins
from tidings.actions.guarded_http import GuardedClient, HttpPolicy
from tidings.actions.local_command import DISABLED, run_local_command
from tidings.actions.runner import ActionFailed, ActionSettings
from tidings.domain.json import JSONObject

ENABLED = ActionSettings(enable_local_commands=True)


@pytest.fixture
async def http() -> AsyncIterator[GuardedClient]:
    """The guarded client (these actions do not use it; the context carries one)."""
    async with GuardedClient(HttpPolicy()) as client:
        yield client


async def test_local_command_is_refused_unless_enabled(http: GuardedClient) -> None:
    with pytest.raises(ActionFailed) as caught:
        await run_local_command(context(http, {"argv": ["echo", "hi"]}))
    assert (caught.value.message, caught.value.retryable) == (DISABLED, False)


async def test_local_command_runs_argv_without_a_shell(http: GuardedClient) -> None:
    params: JSONObject = {"argv": ["echo", "hello", "$HOME;", "`id`"]}
    result = await run_local_command(context(http, params, settings=ENABLED))
    assert result == {
        "exit_code": 0,
        "stdout": "hello $HOME; `id`\n",
        "stderr": "",
        "stdout_truncated": False,
        "stderr_truncated": False,
    }


async def test_local_command_bounds_output_and_reports_failure(http: GuardedClient) -> None:
    settings = ActionSettings(enable_local_commands=True, max_output_bytes=10)
    params: JSONObject = {"argv": ["sh", "-c", "printf 0123456789abcdef; echo oops >&2; exit 3"]}
    with pytest.raises(ActionFailed) as caught:
        await run_local_command(context(http, params, settings=settings))
    assert (caught.value.message, caught.value.retryable) == ("'sh' exited with status 3", False)
    assert caught.value.result == {
        "exit_code": 3,
        "stdout": "0123456789",
        "stderr": "oops\n",
        "stdout_truncated": True,
        "stderr_truncated": False,
    }


async def test_local_command_passes_only_the_environment_it_is_given(
    http: GuardedClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_SECRET_KEY", "must-not-leak")
    params: JSONObject = {"argv": ["env"], "env": {"GREETING": "hi"}}
    result = await run_local_command(context(http, params, settings=ENABLED))
    assert isinstance(result, dict)
    assert isinstance(result["stdout"], str)
    names = sorted(line.split("=", 1)[0] for line in result["stdout"].splitlines())
    assert names == ["GREETING", "LANG", "PATH"]


async def test_local_command_timeout_kills_the_process_tree(
    http: GuardedClient, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    script = f"sleep 30 & echo $! > {pid_file}; wait"
    with pytest.raises(TimeoutError):
        await run_local_command(
            context(http, {"argv": ["sh", "-c", script], "timeout": 0.5}, settings=ENABLED)
        )
    assert _state(int(pid_file.read_text())) in (None, "Z")  # gone, or dead and not yet reaped


def _state(pid: int) -> str | None:
    """The process's state letter from /proc, or None when it no longer exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


async def test_local_command_missing_program(http: GuardedClient) -> None:
    params: JSONObject = {"argv": ["/nonexistent/tool"]}
    with pytest.raises(ActionFailed) as caught:
        await run_local_command(context(http, params, settings=ENABLED))
    assert (caught.value.message, caught.value.retryable) == (
        "cannot run '/nonexistent/tool': No such file or directory",
        False,
    )


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A distribution on sys.path declaring two `tidings.actions` entry points."""
    (tmp_path / "tidings_test_plugin.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            async def greet(ctx):
                await asyncio.sleep(0)
                return {"hello": ctx.parameters["name"], "execution": ctx.execution_id}

            def shout(ctx):
                return ctx.parameters["word"].upper()
            """
        )
    )
    dist = tmp_path / f"tidings_test_plugin_{os.getpid()}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: tidings-test-plugin-{os.getpid()}\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        f"[tidings.actions]\ngreet_{os.getpid()} = tidings_test_plugin:greet\n"
        f"shout_{os.getpid()} = tidings_test_plugin:shout\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return str(os.getpid())


async def test_python_actions_run_installed_entry_points(
    http: GuardedClient, installed_plugin: str
) -> None:
    greeting = await plugins.run_entry_point(
        context(http, {"name": "Ada"}, entry_point=f"greet_{installed_plugin}")
    )
    assert greeting == {"hello": "Ada", "execution": 42}
    shouted = await plugins.run_entry_point(
        context(http, {"word": "hey"}, entry_point=f"shout_{installed_plugin}")
    )
    assert shouted == "HEY"


async def test_a_missing_entry_point_is_named(http: GuardedClient) -> None:
    with pytest.raises(ActionFailed) as caught:
        await plugins.run_entry_point(context(http, {}, entry_point="no_such_action"))
    assert (caught.value.message, caught.value.retryable) == (
        "no 'tidings.actions' entry point named 'no_such_action' is installed",
        False,
    )
