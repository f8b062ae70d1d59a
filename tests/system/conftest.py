"""Real processes: a `tidings serve` subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A server process the test can stop, kill and start again on the same data."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # gRPC (TIDINGS_GRPC_PORT) is off unless a test asks for it: its default port is fixed (8765),
    # and servers that tests start one after another, or beside a developer's, must not share it.
    grpc_port: int = 0

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        """Where the gRPC server listens (when `grpc_port` is set)."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def headers(self) -> dict[str, str]:
        """The admin's credentials."""
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def env(self) -> dict[str, str]:
        """The environment the server (and CLI commands) run with."""
        env = {
            **os.environ,
            "TIDINGS_DATA_DIR": str(self.data_dir),
            "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
            "TIDINGS_LOG_LEVEL": "warning",
            "TIDINGS_GRPC_PORT": str(self.grpc_port),
            **self.extra_env,
        }
        if self.database_url:
            env["TIDINGS_DATABASE_URL"] = self.database_url
        return env

    def start(self, timeout: float = 30.0) -> None:
        """Start `python -m tidings serve` and wait until /healthz answers."""
        self.log_path = self.data_dir.parent / f"server-{self.port}-{time.monotonic_ns()}.log"
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidings", "serve", "--port", str(self.port)],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A started server on embedded SQLite in a fresh data dir."""
    server = LiveServer(data_dir=tmp_path / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
