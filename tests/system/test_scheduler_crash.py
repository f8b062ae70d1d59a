"""Schedules across a SIGKILL of `tidings serve`: after a restart, the ticks missed while it was
down fire as each schedule's misfire policy says, and no tick fires twice (one fire row and one
event per tick). Then two `tidings serve` processes on one PostgreSQL database, one killed and
restarted while the other goes on: every second fires once.

The misfire threshold is 60 s (Quartz's), so the first test keeps the server down for longer
than that: it takes about a minute and a half.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import PG_ADMIN_DSN, _pg_dsn, _pg_execute
from tests.system.conftest import LiveServer

pytestmark = pytest.mark.system

NS = 1_000_000_000
STEP = 5 * NS  # the wall-clock schedules fire every 5 seconds
THRESHOLD = 60 * NS
DOWN_SECONDS = 72


def create(server: LiveServer, **body: Any) -> int:
    response = httpx.post(
        server.url + "/api/v1/schedules", headers=server.headers, json=body, timeout=10
    )
    assert response.status_code == 201, response.text
    schedule_id: int = response.json()["data"]["id"]
    return schedule_id


Fire = tuple[int, int, int | None]  # (tick, fired_at, event id)


def sqlite_rows(path: Path) -> tuple[dict[int, list[Fire]], list[str]]:
    """Each schedule's fires (oldest tick first), and the request ids of every event."""
    with sqlite3.connect(path) as db:
        fires: dict[int, list[Fire]] = {}
        query = "SELECT schedule_id, fire_at, fired_at, event_id FROM schedule_fires ORDER BY 2"
        for schedule_id, tick, fired_at, event_id in db.execute(query):
            fires.setdefault(schedule_id, []).append((tick, fired_at, event_id))
        requests = [r for (r,) in db.execute("SELECT request_id FROM events ORDER BY id")]
    return fires, requests


def assert_once_each(fires: dict[int, list[Fire]], requests: list[str]) -> None:
    """Every fire recorded one event, every event has its fire, and none was recorded twice.

    A fire row is written after its tick's event, so a kill between the two leaves an event
    without its row; the next start finds that tick due again and fills its row in with the
    event it finds (by idempotency key and request id) instead of recording another. The run
    ends with a graceful stop, which finishes its round: no event is left without its row.
    """
    assert [r for r, n in Counter(requests).items() if n > 1] == []
    expected = sorted(f"schedule-{s}-{tick}" for s, rows in fires.items() for tick, _, _ in rows)
    assert sorted(requests) == expected
    assert [f for rows in fires.values() for f in rows if f[2] is None] == []


def after_restart(rows: list[Fire], killed_at: int) -> tuple[int, int, list[int]]:
    """The last tick fired before the kill, the instant of the first round after the restart,
    and the ticks fired after the kill."""
    before = [tick for tick, fired_at, _ in rows if fired_at < killed_at]
    later = [(tick, fired_at) for tick, fired_at, _ in rows if fired_at >= killed_at]
    assert before, rows
    assert later, rows
    return max(before), min(fired_at for _, fired_at in later), [tick for tick, _ in later]


def ticks(first: int, last: int) -> list[int]:
    """Every 5-second tick from `first` to `last`."""
    return list(range(first, last + 1, STEP))


def test_a_killed_server_fires_missed_ticks_by_policy_and_none_twice(tmp_path: Path) -> None:
    server = LiveServer(data_dir=tmp_path / "data")
    server.start()
    try:
        ids = {
            policy: create(server, name=policy, cron="*/5 * * * * *", misfire=policy)
            for policy in ("fire_all", "fire_once", "skip")
        }
        every_second = create(server, name="every-second", cron="* * * * * *")
        time.sleep(7)
        killed_at = time.time_ns()
        server.kill()
        time.sleep(DOWN_SECONDS)
        server.start()
        time.sleep(7)
    finally:
        server.stop()
    fires, requests = sqlite_rows(server.data_dir / "tidings.db")
    assert_once_each(fires, requests)
    assert len(fires[every_second]) > 10
    for policy, schedule_id in ids.items():
        last_before, restarted, later = after_restart(fires[schedule_id], killed_at)
        on_time = [t for t in ticks(last_before + STEP, later[-1]) if t > restarted - THRESHOLD]
        misfired = [t for t in ticks(last_before + STEP, later[-1]) if t <= restarted - THRESHOLD]
        assert misfired, "the server was not down for longer than the misfire threshold"
        if policy == "fire_all":
            assert later == misfired + on_time
        elif policy == "fire_once":
            assert later == [misfired[-1], *on_time]
        else:
            assert later == on_time


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test alone (the servers are other processes)."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
    name = f"tidings_sched_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    yield _pg_dsn(name)
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_rows(dsn: str) -> tuple[dict[int, list[Fire]], list[str]]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        fires: dict[int, list[Fire]] = {}
        query = "SELECT schedule_id, fire_at, fired_at, event_id FROM schedule_fires ORDER BY 2"
        for r in await conn.fetch(query):
            fires.setdefault(r["schedule_id"], []).append(
                (r["fire_at"], r["fired_at"], r["event_id"])
            )
        requests = [r["request_id"] for r in await conn.fetch("SELECT request_id FROM events")]
    finally:
        await conn.close()
    return fires, requests


def test_two_servers_on_postgresql_fire_each_second_once(pg_url: str, tmp_path: Path) -> None:
    env = {"TIDINGS_SECRET_KEY": "test-secret-key", "TIDINGS_WORKERS": "0"}
    one = LiveServer(data_dir=tmp_path / "one", database_url=pg_url, extra_env=env)
    two = LiveServer(data_dir=tmp_path / "two", database_url=pg_url, extra_env=env)
    one.start()
    two.start()
    try:
        schedule_id = create(one, name="every-second", cron="* * * * * *")
        started = time.time_ns()
        time.sleep(5)
        one.kill()  # the other server goes on firing alone
        time.sleep(3)
        one.start()
        restarted = time.time_ns()
        time.sleep(4)
    finally:
        one.stop()
        two.stop()
    fires, requests = asyncio.run(_pg_rows(pg_url))
    assert_once_each(fires, requests)
    fired = [tick for tick, _, _ in fires[schedule_id]]
    # Every second from the first tick to the last fired, once, with no gap while one was down.
    assert fired == list(range(fired[0], fired[-1] + 1, NS))
    assert fired[0] <= started + 2 * NS
    # Firing went on through the 3 s one server was down, to its restart at least. (How close
    # to the stop the last tick is depends on the machine's load: the fire row of the last
    # ticks may not be written when the servers stop.)
    assert fired[-1] >= restarted - NS
