"""`tidings worker` processes on PostgreSQL: a SIGKILLed worker loses nothing, and two workers
draining one queue run each execution exactly once.

Each test gets a database of its own (the workers are other processes, so the shared test
database of tests/conftest.py, emptied between tests, cannot be used). The executions' HTTP
receiver is a real server on loopback that records the `Idempotency-Key` of every request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import ADMIN_TOKEN, PG_ADMIN_DSN, _pg_dsn, _pg_execute
from tests.execution_rows import TENANT, new_execution
from tests.receivers import Answer, Receiver, running_receiver
from tidings.domain.automation import NewExecution
from tidings.domain.json import JSONValue
from tidings.services.runtime import Services
from tidings.settings import Settings
from tidings.storage import executions as execution_store
from tidings.storage.automation_tables import execution_attempts, executions

pytestmark = pytest.mark.system

SECRET = "test-secret-key"
LEASE_SECONDS = 2


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test alone."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
    name = f"tidings_workers_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    yield _pg_dsn(name)
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def services(pg_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    """The test's own view of the database (migrated and bootstrapped), to enqueue and inspect."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=pg_url,
        admin_token=ADMIN_TOKEN,
        secret_key=SECRET,
    )
    built = Services.build(settings)
    await built.start()
    yield built
    await built.stop()


@dataclass
class Worker:
    """A `tidings worker` subprocess."""

    database_url: str
    data_dir: Path
    extra_env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> None:
        """Launch `python -m tidings worker`."""
        env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": self.database_url,
            "TIDINGS_DATA_DIR": str(self.data_dir),
            "TIDINGS_SECRET_KEY": SECRET,
            "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
            "TIDINGS_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        self.log_path = self.data_dir.parent / f"worker-{time.monotonic_ns()}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidings", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no graceful stop, no release of its leases."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        """What the process wrote."""
        return "" if self.log_path is None else self.log_path.read_text()


def worker(services: Services, tmp_path: Path, **env: str) -> Worker:
    """A worker (not started) on the test's database."""
    url = services.settings.database_url
    assert url is not None
    return Worker(url, tmp_path / "data", {"TIDINGS_WORKER_LEASE_SECONDS": "30", **env})


async def enqueue_many(services: Services, rows: list[NewExecution]) -> list[int]:
    """Insert executions, a thousand per transaction; their ids."""
    ids: list[int] = []
    now = services.clock.now_ns()
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]

        async def work(conn: AsyncConnection, batch: list[NewExecution] = batch) -> list[int]:
            return await execution_store.insert_executions(conn, rows=batch, now=now)

        ids.extend(await services.db.write(work))
    return ids


async def count_unfinished(services: Services) -> int:
    """Executions not yet finished."""
    async with services.db.read() as conn:
        query = (
            select(func.count())
            .where(executions.c.status.in_(["queued", "running"]))
            .select_from(executions)
        )
        return int((await conn.execute(query)).scalar_one())


async def wait_until_drained(services: Services, workers: list[Worker], timeout: float) -> None:
    """Until no execution is queued or running (failing with the workers' logs past `timeout`)."""
    deadline = time.monotonic() + timeout
    while await count_unfinished(services):
        for w in workers:
            assert w.process is not None
            assert w.process.poll() is None, w.output()
        assert time.monotonic() < deadline, "\n".join(w.output() for w in workers)
        await asyncio.sleep(0.2)


async def test_a_killed_worker_loses_nothing(services: Services, tmp_path: Path) -> None:
    slow = Answer(delay_seconds=0.3)
    with running_receiver(lambda _r: slow) as receiver:
        call: JSONValue = {"method": "POST", "url": receiver.url + "/hook", "body": {"n": 1}}
        ids = await enqueue_many(
            services,
            [
                new_execution(runner="http_request", parameters=call, max_attempts=5)
                for _ in range(60)
            ],
        )
        env = {
            "TIDINGS_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
            "TIDINGS_ALLOW_PRIVATE_TARGETS": "true",
            "TIDINGS_WORKERS": "8",
        }
        first = worker(services, tmp_path, **env)
        first.start()
        await _until_received(receiver, 12, first)
        first.kill()
        running = await _running(services)
        assert running, "the kill landed while no execution was running"
        second = worker(services, tmp_path, **env)
        second.start()
        try:
            await wait_until_drained(services, [second], timeout=90)
        finally:
            assert second.stop() == -signal.SIGTERM, second.output()
        seen = Counter(r.headers["idempotency-key"] for r in receiver.received())
        ids_seen = {r.headers["x-tidings-execution-id"] for r in receiver.received()}
    expected_keys = {f"{TENANT}-{i}" for i in ids}
    assert set(seen) == expected_keys
    assert ids_seen == {str(i) for i in ids}
    duplicated = {key for key, count in seen.items() if count > 1}
    assert duplicated <= {f"{TENANT}-{i}" for i in running}
    async with services.db.read() as conn:
        rows = (
            await conn.execute(select(executions.c.id, executions.c.status, executions.c.attempts))
        ).all()
        first_outcomes = dict(
            (
                await conn.execute(
                    select(execution_attempts.c.execution_id, execution_attempts.c.outcome).where(
                        execution_attempts.c.number == 1
                    )
                )
            ).all()
        )
    assert {r.status for r in rows} == {"succeeded"}
    assert {r.id: r.attempts for r in rows} == {i: 2 if i in running else 1 for i in ids}
    assert {i: first_outcomes[i] for i in running} == {i: "lease_expired" for i in running}


async def _until_received(receiver: Receiver, count: int, source: Worker) -> None:
    deadline = time.monotonic() + 30
    while len(receiver.received()) < count:
        assert source.process is not None
        assert source.process.poll() is None, source.output()
        assert time.monotonic() < deadline, source.output()
        await asyncio.sleep(0.02)


async def _running(services: Services) -> set[int]:
    async with services.db.read() as conn:
        query = select(executions.c.id).where(executions.c.status == "running")
        return set((await conn.execute(query)).scalars())


async def test_two_workers_run_ten_thousand_executions_exactly_once(
    services: Services, tmp_path: Path
) -> None:
    ids = await enqueue_many(services, [new_execution() for _ in range(10_000)])
    workers = [worker(services, tmp_path), worker(services, tmp_path)]
    for w in workers:
        w.start()
    try:
        await wait_until_drained(services, workers, timeout=300)
    finally:
        for w in workers:
            assert w.stop() == -signal.SIGTERM, w.output()
    async with services.db.read() as conn:
        by_status: dict[str, int] = dict(
            (
                await conn.execute(
                    select(executions.c.status, func.count()).group_by(executions.c.status)
                )
            ).all()
        )
        attempts: dict[int, int] = dict(
            (
                await conn.execute(
                    select(executions.c.attempts, func.count()).group_by(executions.c.attempts)
                )
            ).all()
        )
        attempt_rows = (
            await conn.execute(select(func.count()).select_from(execution_attempts))
        ).scalar_one()
        owners = (
            await conn.execute(select(func.count(func.distinct(execution_attempts.c.worker))))
        ).scalar_one()
    assert len(ids) == 10_000
    assert by_status == {"succeeded": 10_000}
    assert attempts == {1: 10_000}
    assert attempt_rows == 10_000
    assert owners == 2  # both workers took part
