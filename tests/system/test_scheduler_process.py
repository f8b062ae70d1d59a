"""`tidings scheduler`: the scheduler without the API, on PostgreSQL; refused on SQLite, where
`tidings serve` runs it in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select

from tests.conftest import ADMIN_TOKEN, PG_ADMIN_DSN, _pg_dsn, _pg_execute
from tests.execution_rows import ADMIN
from tidings.services.runtime import Services
from tidings.services.schedule_specs import ScheduleSpec
from tidings.settings import Settings
from tidings.storage.tables import events

pytestmark = pytest.mark.system

SECRET = "test-secret-key"


def test_the_scheduler_command_needs_postgresql(tmp_path: Path) -> None:
    env = {**os.environ, "TIDINGS_DATA_DIR": str(tmp_path / "data")}
    env.pop("TIDINGS_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "tidings", "scheduler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "`tidings scheduler` fires schedules apart from the API, which needs PostgreSQL" in (
        " ".join(done.stderr.split())
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test alone (the scheduler is another process)."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
    name = f"tidings_schedproc_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    yield _pg_dsn(name)
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def services(pg_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    """The test's own view of the database, to save schedules and read their events."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=pg_url, admin_token=ADMIN_TOKEN, secret_key=SECRET
    )
    built = Services.build(settings)
    await built.start()
    yield built
    await built.stop()


async def _recorded(services: Services) -> int:
    async with services.db.read() as conn:
        query = select(func.count()).select_from(events).where(events.c.type == "core.date_timer")
        return int((await conn.execute(query)).scalar_one())


async def test_the_scheduler_process_fires_schedules(
    services: Services, pg_url: str, tmp_path: Path
) -> None:
    due = time.time_ns() + 2_000_000_000
    for i in range(3):
        await services.schedules.create_schedule(ADMIN, spec=ScheduleSpec(name=f"s{i}", at=due))
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": pg_url,
        "TIDINGS_DATA_DIR": str(tmp_path / "data"),
        "TIDINGS_SECRET_KEY": SECRET,
        "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
        "TIDINGS_LOG_LEVEL": "warning",
    }
    log_path = tmp_path / "scheduler.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidings", "scheduler"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 30
        while await _recorded(services) < 3:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.1)
        assert "Tidings scheduler running" in log_path.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == -signal.SIGTERM, log_path.read_text()
    assert await _recorded(services) == 3
    states = [
        (await services.schedules.get_schedule(ADMIN, schedule_id=i)).state for i in (1, 2, 3)
    ]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE"]
