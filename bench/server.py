"""A real `tidings serve` subprocess for benchmarks, and throwaway PostgreSQL databases."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncpg
import httpx

ADMIN_TOKEN = "tdg_bench-admin-token-0123456789abcdef"
PG_ADMIN_DSN = os.environ.get("TIDINGS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BenchServer:
    """`python -m tidings serve` on a data dir (SQLite) or a PostgreSQL URL."""

    data_dir: Path
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """The admin's credentials."""
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until /healthz answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
            "TIDINGS_LOG_LEVEL": "warning",
            "TIDINGS_GRPC_PORT": "0",  # no gRPC unless a benchmark asks for it (extra_env)
            **self.extra_env,
        }
        env.pop("TIDINGS_DATABASE_URL", None)
        if self.database_url:
            env["TIDINGS_DATABASE_URL"] = self.database_url
        command = [sys.executable, "-m", "tidings", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
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
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit (SIGKILL after 30 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> BenchServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (VmRSS from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pg_dsn(database: str) -> str:
    """The DSN of `database` on the benchmark PostgreSQL server."""
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class PgDatabase:
    """A fresh, empty PostgreSQL database, dropped on exit."""

    def __init__(self, label: str) -> None:
        self.name = f"tidings_bench_{label}_{uuid.uuid4().hex[:8]}"

    @property
    def dsn(self) -> str:
        """Its DSN (postgresql://…)."""
        return pg_dsn(self.name)

    def __enter__(self) -> PgDatabase:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def pg_available() -> bool:
    """Whether the benchmark PostgreSQL server answers."""
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError):
        return False
    return True
