"""The SQLite writer's inline connection: short statements run on the event loop's thread; what
can wait or run long (BEGIN, COMMIT, DELETE) on aiosqlite's thread; readers keep the thread."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tidings.storage.engine import Engines, create_engines, sqlite_url
from tidings.storage.sqlite_inline import InlineConnection


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[Engines]:
    """Reader and writer engines on a fresh file, with a table `t`."""
    made = create_engines(sqlite_url(tmp_path / "inline.db"), sqlite_synchronous="NORMAL")
    async with made.writer.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield made
    await made.dispose()


async def test_statements_run_inline_and_waits_on_the_thread(engines: Engines) -> None:
    seen: list[tuple[str, int]] = []

    def where(label: str) -> int:
        seen.append((label, threading.get_ident()))
        return 1

    loop_thread = threading.get_ident()
    async with engines.writer.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, InlineConnection)
        await driver.create_function("where_am_i", 1, where)
        await conn.execute(text("INSERT INTO t (x) SELECT where_am_i('insert')"))
        await conn.execute(text("UPDATE t SET x = 2 WHERE where_am_i('update') = 1"))
        await conn.execute(text("DELETE FROM t WHERE where_am_i('delete') = 1"))
    threads = dict(seen)
    assert threads["insert"] == loop_thread
    assert threads["update"] == loop_thread
    assert threads["delete"] != loop_thread  # a purge may be long: never on the loop


async def test_a_transaction_commits_and_rolls_back(engines: Engines) -> None:
    async with engines.writer.begin() as conn:
        await conn.execute(text("INSERT INTO t (x) VALUES (1), (2)"))

    async def insert_then_fail() -> None:
        async with engines.writer.begin() as conn:
            await conn.execute(text("INSERT INTO t (x) VALUES (3)"))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    async with engines.reader.connect() as conn:
        rows = (await conn.execute(text("SELECT x FROM t ORDER BY x"))).scalars().all()
    assert rows == [1, 2]


async def test_readers_keep_aiosqlites_thread(engines: Engines) -> None:
    async with engines.reader.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert not isinstance(driver, InlineConnection)
