"""`tidings serve` runs executions in-process on SQLite; `tidings worker` refuses SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.execution_rows import TENANT, new_execution
from tests.receivers import running_receiver
from tests.system.conftest import LiveServer
from tidings.cli.server import POSTGRES_ONLY
from tidings.storage import executions as execution_store
from tidings.storage.engine import create_engines, sqlite_url

pytestmark = pytest.mark.system


async def test_serve_runs_queued_executions(tmp_path: Path) -> None:
    server = LiveServer(
        data_dir=tmp_path / "data", extra_env={"TIDINGS_ALLOW_PRIVATE_TARGETS": "true"}
    )
    server.start()
    try:
        with running_receiver() as receiver:
            # Written by another process (this test), so no in-process signal: the poll finds it.
            engines = create_engines(sqlite_url(server.data_dir / "tidings.db"))
            try:
                async with engines.writer.begin() as conn:
                    [execution_id] = await execution_store.insert_executions(
                        conn,
                        rows=[
                            new_execution(
                                runner="http_request",
                                parameters={"url": receiver.url + "/ping"},
                            )
                        ],
                        now=time.time_ns(),
                    )
            finally:
                await engines.dispose()
            detail = _until_finished(server, execution_id)
            assert detail["status"] == "succeeded", detail
            [request] = receiver.received()
            assert (request.path, request.headers["idempotency-key"]) == (
                "/ping",
                f"{TENANT}-{execution_id}",
            )
    finally:
        server.stop()


def _until_finished(server: LiveServer, execution_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 20
    url = f"{server.url}/api/v1/executions/{execution_id}"
    while True:
        data: dict[str, object] = httpx.get(url, headers=server.headers).json()["data"]
        if data["status"] not in ("queued", "running"):
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.1)


def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TIDINGS_DATABASE_URL"}
    env["TIDINGS_DATA_DIR"] = str(tmp_path / "data")
    finished = subprocess.run(
        [sys.executable, "-m", "tidings", "worker"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stderr.decode() == f"Error: {POSTGRES_ONLY}\n"
    assert not (tmp_path / "data").exists()  # refused before touching anything
