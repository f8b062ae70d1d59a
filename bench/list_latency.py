"""Filtered list latency at 1,000,000 stored events, over HTTP versus the same SQL run directly.

Target: `GET /api/v1/events` filtered by trigger_ref and a start/end window, per_page=50, has
p95 <= 20 ms on the first page, 10,000 events deep by page number (page=201, exact total
included) and 10,000 events deep by cursor, on SQLite and PostgreSQL.

Loading: the server is started once on a fresh database (it migrates and bootstraps the tenant
and admin), stopped, and the events are inserted directly with SQL (sqlite3 executemany /
asyncpg COPY) in time order, the way a log grows. PostgreSQL then gets VACUUM ANALYZE; SQLite
gets nothing (the server never runs ANALYZE either). Then the server is started again.

Baseline: the exact statements the server runs for that request (captured from
`tidings.storage.events` through SQLAlchemy, then replayed with plain sqlite3 / asyncpg in one
read transaction, as the server does: the page query, then the exact count for numbered pages).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import database, report
from bench.server import BenchServer, PgDatabase, pg_available
from bench.workload import DAY_NS, SPAN_DAYS, START_NS, TYPES, generate, request_id
from tidings.domain.access import Visibility
from tidings.domain.events import EventFilter
from tidings.domain.timestamps import parse_rfc3339
from tidings.storage import events as event_store
from tidings.storage.engine import create_engines, sqlite_url

TARGET_P95_MS = 20.0
PER_PAGE = 50
DEEP_PAGE = 201  # 10,000 events deep with per_page=50
TYPE = "deployment"
WINDOW_START = START_NS + 30 * DAY_NS
WINDOW_END = START_NS + 60 * DAY_NS
Statement = tuple[str, Any]


@dataclass(frozen=True)
class Case:
    """One request shape: its HTTP query and the storage call the server makes for it."""

    name: str
    params: dict[str, str | int]
    offset: int
    after: tuple[int, int] | None

    @property
    def counts(self) -> bool:
        """Numbered pages carry an exact total; cursor pages do not."""
        return self.after is None


@dataclass(frozen=True)
class Timing:
    """Latencies of one case, in milliseconds."""

    http: list[float]
    direct: list[float]


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))


def base_params() -> dict[str, str | int]:
    """The filter of every measured request: one type of 20, a 30-day window of 90."""
    return {
        "trigger_ref": TYPE,
        "start": _iso(WINDOW_START),
        "end": _iso(WINDOW_END),
        "per_page": PER_PAGE,
    }


def _filter() -> EventFilter:
    return EventFilter(
        type=TYPE, start=parse_rfc3339(_iso(WINDOW_START)), end=parse_rfc3339(_iso(WINDOW_END))
    )


def _cursor_position(cursor: str) -> tuple[int, int]:
    body = cursor.split(".", 1)[0]
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    occurred_at, event_id = data["p"]
    return int(occurred_at), int(event_id)


# --- loading ------------------------------------------------------------------------------


def _rows(count: int, tenant_id: int, actor_id: int) -> Iterator[tuple[Any, ...]]:
    rid = request_id()
    for i, e in enumerate(generate(count, seed=7, in_time_order=True)):
        if i % 1000 == 0:
            rid = request_id()
        yield e.row(
            tenant_id=tenant_id,
            actor_id=actor_id,
            request_id=rid,
            now=e.occurred_at + 250_000_000,
            payload_json=orjson.dumps(e.payload).decode(),
        )


def load_sqlite(path: Path, count: int) -> float:
    """Insert `count` events into the bootstrapped SQLite file; returns seconds taken."""
    return database.load_sqlite_file(path, lambda tenant, actor: _rows(count, tenant, actor))


async def load_postgres(dsn: str, count: int) -> float:
    """COPY `count` events into the bootstrapped database, then VACUUM ANALYZE."""
    began = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        tenant_id, actor_id = await database.pg_identity(conn)
        await database.pg_load(conn, _rows(count, tenant_id, actor_id))
        await conn.execute("VACUUM ANALYZE events")
    finally:
        await conn.close()
    return time.perf_counter() - began


# --- the statements the server runs ---------------------------------------------------------


async def capture(url: str, tenant_id: int, case: Case) -> list[Statement]:
    """The SQL (and parameters) `tidings.storage.events` issues for `case`."""
    engines = create_engines(url, pool_size=1)
    captured: list[Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM events" in statement:
            captured.append((statement, parameters))

    sa_event.listen(engines.reader.sync_engine, "before_cursor_execute", record)
    visibility = Visibility(sees_all=True, groups=frozenset(), roles=frozenset())
    try:
        async with engines.reader.connect() as conn:
            await _run_storage(conn, tenant_id, case, visibility)
    finally:
        await engines.dispose()
    return captured


async def _run_storage(
    conn: AsyncConnection, tenant_id: int, case: Case, visibility: Visibility
) -> None:
    flt = _filter()
    await event_store.list_event_summaries(
        conn,
        tenant_id=tenant_id,
        flt=flt,
        visibility=visibility,
        limit=PER_PAGE,
        offset=case.offset,
        after=case.after,
    )
    if case.counts:
        await event_store.count_events(conn, tenant_id=tenant_id, flt=flt, visibility=visibility)


def direct_sqlite(
    path: Path, statements: list[Statement], requests: int
) -> tuple[list[float], list[int]]:
    """Replay the statements with sqlite3 in one read transaction per request."""
    conn = database.connect_sqlite(path)
    latencies: list[float] = []
    ids: list[int] = []
    try:
        for _ in range(requests):
            began = time.perf_counter()
            conn.execute("BEGIN")
            results = [conn.execute(sql, params).fetchall() for sql, params in statements]
            conn.execute("COMMIT")
            latencies.append((time.perf_counter() - began) * 1000)
            ids = [int(row[0]) for row in results[0]]
    finally:
        conn.close()
    return latencies, ids


async def direct_postgres(
    dsn: str, statements: list[Statement], requests: int
) -> tuple[list[float], list[int]]:
    """Replay the statements with asyncpg in one REPEATABLE READ transaction per request."""
    conn = await asyncpg.connect(dsn)
    latencies: list[float] = []
    ids: list[int] = []
    try:
        for sql, params in statements:  # prepare on this connection before the clock starts
            await conn.fetch(sql, *params)
        for _ in range(requests):
            began = time.perf_counter()
            async with conn.transaction(isolation="repeatable_read", readonly=False):
                results = [await conn.fetch(sql, *params) for sql, params in statements]
            latencies.append((time.perf_counter() - began) * 1000)
            ids = [int(row[0]) for row in results[0]]
    finally:
        await conn.close()
    return latencies, ids


# --- HTTP -----------------------------------------------------------------------------------


def http_latencies(
    client: httpx.Client, params: dict[str, str | int], requests: int
) -> tuple[list[float], list[int]]:
    """Sequential GETs from one keep-alive connection."""
    latencies: list[float] = []
    ids: list[int] = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get("/api/v1/events", params=params)
        latencies.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"list failed: {response.status_code} {response.text[:300]}")
        ids = [item["id"] for item in response.json()["data"]]
    return latencies, ids


def deep_cursor(client: httpx.Client) -> str:
    """Follow next_cursor from the first page to the cursor of page 201 (10,000 deep)."""
    params = base_params()
    cursor: str | None = None
    for _ in range(DEEP_PAGE - 1):
        query = {**params, "cursor": cursor} if cursor else params
        response = client.get("/api/v1/events", params=query)
        response.raise_for_status()
        cursor = response.json()["pagination"]["next_cursor"]
        if cursor is None:
            raise RuntimeError("ran out of pages before 10,000 events: load more events")
    assert cursor is not None
    return cursor


def _summary(values: list[float]) -> str:
    return (
        f"p50 {report.percentile(values, 50):6.2f}  p95 {report.percentile(values, 95):6.2f}  "
        f"p99 {report.percentile(values, 99):6.2f} ms"
    )


def measure(
    server: BenchServer,
    url: str,
    tenant_id: int,
    direct: Callable[[list[Statement], int], tuple[list[float], list[int]]],
    requests: int,
) -> dict[str, Timing]:
    """Warm up, then time every case over HTTP and directly."""
    timings: dict[str, Timing] = {}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        cursor = deep_cursor(client)
        params = base_params()
        cases = [
            Case("first page (page=1)", params, 0, None),
            Case(f"deep page (page={DEEP_PAGE})", {**params, "page": DEEP_PAGE}, 10_000, None),
            Case(
                "deep cursor (10,000 in)", {**params, "cursor": cursor}, 0, _cursor_position(cursor)
            ),
        ]
        for case in cases:
            statements = asyncio.run(capture(url, tenant_id, case))
            http_latencies(client, case.params, 20)
            direct(statements, 20)
            http, http_ids = http_latencies(client, case.params, requests)
            raw, raw_ids = direct(statements, requests)
            raw_ids = raw_ids[
                :PER_PAGE
            ]  # the server reads one past the page to know if more follow
            if http_ids != raw_ids or len(http_ids) != PER_PAGE:
                raise RuntimeError(f"{case.name}: HTTP and direct SQL returned different pages")
            timings[case.name] = Timing(http, raw)
        total = client.get("/api/v1/events", params=params).json()["pagination"]["total_items"]
    print(f"  matching events (exact total): {total:,}")
    return timings


def print_timings(engine: str, timings: dict[str, Timing]) -> None:
    """Print each case with its baseline and the verdict."""
    for name, t in timings.items():
        p95 = report.percentile(t.http, 95)
        base = report.percentile(t.direct, 95)
        print(f"  [{engine}] {name}")
        print(f"    HTTP:       {_summary(t.http)}")
        print(f"    direct SQL: {_summary(t.direct)}")
        print(
            f"    p95 HTTP/direct = {p95 / base:.1f}x; target p95 <= {TARGET_P95_MS:.0f} ms: "
            f"{report.verdict(p95 <= TARGET_P95_MS)}"
        )


def run_engine(engine: str, root: Path, *, events: int, requests: int) -> None:
    """Bootstrap, load, restart and measure on one engine."""
    with ExitStack() as stack:
        if engine == "postgresql":
            pg = stack.enter_context(PgDatabase("list"))
            server = BenchServer(root / "pg", database_url=pg.dsn)
            url = pg.dsn
        else:
            server = BenchServer(root / "sqlite")
            url = sqlite_url(server.data_dir / "tidings.db")
        server.start()
        server.stop()
        if engine == "postgresql":
            seconds = asyncio.run(load_postgres(pg.dsn, events))
            tenant_id = asyncio.run(_pg_tenant(pg.dsn))

            def direct(stmts: list[Statement], n: int) -> tuple[list[float], list[int]]:
                return asyncio.run(direct_postgres(pg.dsn, stmts, n))

        else:
            path = server.data_dir / "tidings.db"
            seconds = load_sqlite(path, events)
            tenant_id = _sqlite_tenant(path)

            def direct(stmts: list[Statement], n: int) -> tuple[list[float], list[int]]:
                return direct_sqlite(path, stmts, n)

        print(f"[{engine}] loaded {events:,} events by direct SQL in {seconds:.1f} s")
        with server:
            timings = measure(server, url, tenant_id, direct, requests)
        print_timings(engine, timings)


def _sqlite_tenant(path: Path) -> int:
    conn = database.connect_sqlite(path)
    try:
        return database.sqlite_identity(conn)[0]
    finally:
        conn.close()


async def _pg_tenant(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return (await database.pg_identity(conn))[0]
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.list_latency", description=__doc__)
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events stored (10,000 deep needs >= 600,000)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the databases")
    args = parser.parse_args(argv)

    report.header("list_latency: filtered GET /api/v1/events vs the same SQL run directly")
    print(
        f"{args.events:,} events over {len(TYPES)} types and {SPAN_DAYS} days; filter: "
        f"trigger_ref={TYPE} (1 of {len(TYPES)}), {_iso(WINDOW_START)}..{_iso(WINDOW_END)} "
        f"(30 of {SPAN_DAYS} days), per_page={PER_PAGE}; {args.requests} sequential requests "
        "per case from one keep-alive connection"
    )
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("[postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-list-{engine}-", dir=args.dir))
        try:
            run_engine(engine, root, events=args.events, requests=args.requests)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
