"""Tracker search and Socotra list latency at 1,000,000 stored events, over HTTP vs the same SQL.

Target (issue 3): `GET /api/v1alpha1/events/search` (Tracker) and
`GET /event/{tenantLocator}/events/list` (Socotra) have p95 <= 20 ms at 1,000,000 events, on
SQLite and PostgreSQL.

Loading, as `bench.list_latency`: the server starts once on a fresh database (it migrates and
bootstraps the tenant and admin) and stops; the events go in directly with SQL in the order they
were recorded, every one with Tracker's dimensions (`bench.workload.generate_dialect`). On
PostgreSQL each COPY of 100 rows is its own transaction, so `commit_tx` takes the writing
transaction's id from the column default, as when the server group-commits; VACUUM ANALYZE
follows. SQLite gets no ANALYZE (the server never runs it) and `commit_tx` 0, as the server writes.

Baseline: the statements the server runs for the request, captured by sending the same request
to the same app in-process (same data dir, so the same signing key and tokens) with SQLAlchemy's
`before_cursor_execute` on its reader engine, then replayed with plain sqlite3 / asyncpg in one
read transaction per request (REPEATABLE READ on PostgreSQL), as the server does. HTTP and direct
SQL alternate in four blocks per case, so a change in the machine's load affects both sides.
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench import database, report
from bench.list_latency import Timing, print_timings
from bench.server import ADMIN_TOKEN, BenchServer, PgDatabase, pg_available
from bench.workload import (
    DIALECT_SERVICES,
    DIALECT_TYPES,
    EVENTS_PER_TRANSACTION,
    INSERT_COLUMNS,
    SPAN_DAYS,
    generate_dialect,
    request_id,
)
from tidings.api.app import create_app
from tidings.services.runtime import Services
from tidings.settings import Settings

TARGET_P95_MS = 20.0
TRACKER = "/api/v1alpha1/events/search"
SOCOTRA = "/event/{tenant}/events/list"
SERVICE = DIALECT_SERVICES[7]  # one of 50
SOCOTRA_TYPE = "deployment"  # one of 20
SOCOTRA_DAY = "2024-02-15"  # day 46 of 90
SOCOTRA_DEPTH = 50  # pages followed by pagingToken before the measured request
ROUNDS = 4  # HTTP and direct SQL alternate in this many blocks per case
Statement = tuple[str, Any]
Params = dict[str, str | int]


@dataclass(frozen=True)
class Case:
    """One request shape, and how many events its page must hold."""

    name: str
    path: str
    params: Params
    page_size: int

    @property
    def tracker(self) -> bool:
        """Tracker answers {events: [{id}]}; Socotra {events: [{locator}]}."""
        return self.path == TRACKER


def tracker_cases() -> list[Case]:
    """The searches of Tracker's own examples, at the scale of a busy tenant."""
    production: Params = {"type": 1, "environment": 7, "per_page": 10}
    return [
        Case("tracker type=1&environment=7 page 1", TRACKER, {**production, "page": 1}, 10),
        Case("tracker type=1&environment=7 page 20", TRACKER, {**production, "page": 20}, 10),
        Case(
            f"tracker service={SERVICE} 30 days",
            TRACKER,
            {"service": SERVICE, "start_date": "2024-02-01", "end_date": "2024-03-01"},
            10,
        ),
        Case("tracker priority=1&type=4", TRACKER, {"priority": 1, "type": 4}, 10),
    ]


def socotra_cases(tenant: str, deep_token: str) -> list[Case]:
    """The stream from its start, 50 pages in, by type, and over one day in the middle."""
    path = SOCOTRA.format(tenant=tenant)
    size: Params = {"pageSize": 100}
    return [
        Case("socotra first page", path, size, 100),
        Case(
            f"socotra pagingToken {SOCOTRA_DEPTH} pages in",
            path,
            {**size, "pagingToken": deep_token},
            100,
        ),
        Case(f"socotra type={SOCOTRA_TYPE}", path, {**size, "type": SOCOTRA_TYPE}, 100),
        Case(
            f"socotra one day ({SOCOTRA_DAY})",
            path,
            {**size, "startTimestamp": SOCOTRA_DAY, "endTimestamp": SOCOTRA_DAY},
            100,
        ),
    ]


# --- loading ------------------------------------------------------------------------------


def _rows(count: int, tenant_id: int, actor_id: int) -> Iterator[tuple[Any, ...]]:
    rid = request_id()
    for i, e in enumerate(generate_dialect(count)):
        if i % EVENTS_PER_TRANSACTION == 0:
            rid = request_id()
        yield e.row(
            tenant_id=tenant_id,
            actor_id=actor_id,
            request_id=rid,
            payload_json=orjson.dumps(e.payload).decode(),
        )


def load_sqlite(path: Path, count: int) -> float:
    """Insert `count` events into the bootstrapped SQLite file; returns seconds taken."""
    return database.load_sqlite_file(path, lambda tenant, actor: _rows(count, tenant, actor))


async def load_postgres(dsn: str, count: int) -> float:
    """COPY 100 events per transaction (each gets its own `commit_tx`), then VACUUM ANALYZE."""
    assert INSERT_COLUMNS[-1] == "commit_tx"
    columns = INSERT_COLUMNS[:-1]  # left to the default: the writing transaction's id
    began = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        database.check_columns()
        tenant_id, actor_id = await database.pg_identity(conn)
        # Durability is not measured here; each COPY still commits as its own transaction.
        await conn.execute("SET synchronous_commit = off")
        chunk: list[tuple[Any, ...]] = []
        for row in _rows(count, tenant_id, actor_id):
            chunk.append(row[:-1])
            if len(chunk) == EVENTS_PER_TRANSACTION:
                await conn.copy_records_to_table("events", records=chunk, columns=columns)
                chunk = []
        if chunk:
            await conn.copy_records_to_table("events", records=chunk, columns=columns)
        await conn.execute("VACUUM ANALYZE events")
    finally:
        await conn.close()
    return time.perf_counter() - began


async def pg_transactions(dsn: str) -> int:
    """How many distinct writing transactions the loaded events carry."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(DISTINCT commit_tx) FROM events"))
    finally:
        await conn.close()


# --- the statements the server runs ---------------------------------------------------------


async def capture(
    settings: Settings, cases: list[Case]
) -> tuple[list[list[Statement]], list[list[int]]]:
    """Send each case to the app in-process and record the SQL it runs on `events`."""
    services = Services.build(settings)
    app = create_app(services, manage_lifecycle=False)
    captured: list[Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM events" in statement:
            captured.append((statement, parameters))

    sa_event.listen(services.db.engines.reader.sync_engine, "before_cursor_execute", record)
    statements: list[list[Statement]] = []
    ids: list[list[int]] = []
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            for case in cases:
                captured.clear()
                response = await client.get(case.path, params=case.params)
                statements.append(list(captured))
                ids.append(page_ids(case, response))
    finally:
        await services.db.engines.dispose()
    return statements, ids


def page_ids(case: Case, response: httpx.Response) -> list[int]:
    """The event ids of a page, in order (failing on any answer but a 200)."""
    if response.status_code != 200:
        raise RuntimeError(f"{case.name}: {response.status_code} {response.text[:300]}")
    key = "id" if case.tracker else "locator"
    return [int(e[key]) for e in response.json()["events"]]


def _page_index(statements: list[Statement]) -> int:
    """Which statement returns the page's events (the one joining the actor's locator)."""
    for i, (sql, _) in enumerate(statements):
        if "JOIN principals" in sql:
            return i
    raise RuntimeError("no page statement was captured")


def direct_sqlite(
    path: Path, statements: list[Statement], requests: int
) -> tuple[list[float], list[int]]:
    """Replay the statements with sqlite3 in one read transaction per request."""
    conn = database.connect_sqlite(path)
    page = _page_index(statements)
    latencies: list[float] = []
    ids: list[int] = []
    try:
        for _ in range(requests):
            began = time.perf_counter()
            conn.execute("BEGIN")
            results = [conn.execute(sql, params).fetchall() for sql, params in statements]
            conn.execute("COMMIT")
            latencies.append((time.perf_counter() - began) * 1000)
            ids = [int(row[0]) for row in results[page]]
    finally:
        conn.close()
    return latencies, ids


async def direct_postgres(
    dsn: str, statements: list[Statement], requests: int
) -> tuple[list[float], list[int]]:
    """Replay the statements with asyncpg in one REPEATABLE READ transaction per request."""
    conn = await asyncpg.connect(dsn)
    page = _page_index(statements)
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
            ids = [int(row[0]) for row in results[page]]
    finally:
        await conn.close()
    return latencies, ids


# --- HTTP -----------------------------------------------------------------------------------


def http_latencies(
    client: httpx.Client, case: Case, requests: int
) -> tuple[list[float], list[int]]:
    """Sequential GETs from one keep-alive connection."""
    latencies: list[float] = []
    ids: list[int] = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(case.path, params=case.params)
        latencies.append((time.perf_counter() - began) * 1000)
        ids = page_ids(case, response)
    return latencies, ids


def deep_token(client: httpx.Client, tenant: str) -> str:
    """Follow pagingToken from the stream's first page to the token after page 50."""
    path = SOCOTRA.format(tenant=tenant)
    params: Params = {"pageSize": 100}
    for _ in range(SOCOTRA_DEPTH):
        response = client.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        if len(body["events"]) != 100:
            raise RuntimeError("the stream ran out before 50 pages: load more events")
        params = {"pageSize": 100, "pagingToken": body["pagingToken"]}
    return str(params["pagingToken"])


def tracker_totals(client: httpx.Client, cases: list[Case]) -> dict[str, int]:
    """Each Tracker search's exact total, to say how many events it matches."""
    return {
        c.name: int(client.get(c.path, params=c.params).json()["total"]) for c in cases if c.tracker
    }


DirectRun = Callable[[list[Statement], int], tuple[list[float], list[int]]]


def measure(
    server: BenchServer,
    settings: Settings,
    direct: DirectRun,
    *,
    requests: int,
    dialects: Sequence[str],
) -> dict[str, Timing]:
    """Warm up, then time every case over HTTP and directly, checking both return the page."""
    timings: dict[str, Timing] = {}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        me = client.get("/api/v1/auth/me")
        me.raise_for_status()
        tenant = str(me.json()["data"]["tenant"])
        cases = tracker_cases() if "tracker" in dialects else []
        if "socotra" in dialects:
            cases += socotra_cases(tenant, deep_token(client, tenant))
        statements, captured_ids = asyncio.run(capture(settings, cases))
        for case, stmts, expected in zip(cases, statements, captured_ids, strict=True):
            http_latencies(client, case, 20)
            direct(stmts, 20)
            http: list[float] = []
            raw: list[float] = []
            block = max(1, requests // ROUNDS)
            for _ in range(ROUNDS):  # alternated, so drift in the machine's load hits both
                latencies, http_ids = http_latencies(client, case, block)
                http += latencies
                latencies, raw_ids = direct(stmts, block)
                raw += latencies
            # The server reads one event past the page (to know whether another follows).
            if not http_ids == raw_ids[: case.page_size] == expected:
                raise RuntimeError(f"{case.name}: HTTP and direct SQL returned different pages")
            if len(http_ids) != case.page_size:
                print(
                    f"  WARNING {case.name}: {len(http_ids)} events, not a full page of "
                    f"{case.page_size}: load more events"
                )
            timings[case.name] = Timing(http, raw)
        for name, total in tracker_totals(client, cases).items():
            print(f"  {name}: matches {total:,} events (exact total)")
    return timings


def summary_rows(engine: str, timings: dict[str, Timing]) -> list[str]:
    """One Markdown table row per case, for BENCHMARKS.md."""
    rows = []
    for name, t in timings.items():
        http = [report.percentile(t.http, q) for q in (50, 95, 99)]
        raw = [report.percentile(t.direct, q) for q in (50, 95, 99)]
        rows.append(
            f"| {engine} | {name} | {http[0]:.2f} / **{http[1]:.2f}** / {http[2]:.2f} | "
            f"{raw[0]:.2f} / {raw[1]:.2f} / {raw[2]:.2f} | {http[1] / raw[1]:.1f}x | "
            f"**{report.verdict(http[1] <= TARGET_P95_MS)}** |"
        )
    return rows


def run_engine(
    engine: str,
    root: Path,
    *,
    events: int,
    requests: int,
    dialects: Sequence[str],
    keep: bool = False,
) -> list[str]:
    """Bootstrap, load, restart and measure on one engine; returns its summary rows."""
    with ExitStack() as stack:
        if engine == "postgresql":
            pg = PgDatabase("dialect")
            if keep:
                pg.__enter__()  # created, never dropped: drop it by hand after EXPLAINing
            else:
                stack.enter_context(pg)
            server = BenchServer(root / "pg", database_url=pg.dsn)
        else:
            server = BenchServer(root / "sqlite")
        server.start()
        server.stop()
        settings = Settings(
            data_dir=server.data_dir,
            database_url=server.database_url,
            admin_token=ADMIN_TOKEN,
        )
        path = server.data_dir / "tidings.db"
        if engine == "postgresql":
            seconds = asyncio.run(load_postgres(pg.dsn, events))
            loaded = f"in {asyncio.run(pg_transactions(pg.dsn)):,} transactions"

            def direct(stmts: list[Statement], n: int) -> tuple[list[float], list[int]]:
                return asyncio.run(direct_postgres(pg.dsn, stmts, n))

        else:
            seconds = load_sqlite(path, events)
            loaded = "in 50,000-row transactions"

            def direct(stmts: list[Statement], n: int) -> tuple[list[float], list[int]]:
                return direct_sqlite(path, stmts, n)

        print(f"[{engine}] loaded {events:,} events by direct SQL {loaded} in {seconds:.1f} s")
        if keep:
            print(f"[{engine}] kept: {server.database_url or path}")
        with server:
            timings = measure(server, settings, direct, requests=requests, dialects=dialects)
        print_timings(engine, timings)
        return summary_rows(engine, timings)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.dialect_latency", description=__doc__)
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events stored (50 stream pages need 5,100)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument(
        "--engine", choices=("sqlite", "postgresql", "both"), default="both", help="engines to run"
    )
    parser.add_argument(
        "--dialects", default="tracker,socotra", help="comma-separated: tracker, socotra"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases (to EXPLAIN them afterwards)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the databases")
    args = parser.parse_args(argv)

    report.header("dialect_latency: Tracker search and Socotra list vs the same SQL run directly")
    print(
        f"{args.events:,} events over {len(DIALECT_TYPES)} types, 50 services, 8 environments "
        f"and {SPAN_DAYS} days; {args.requests} sequential requests per case from one keep-alive "
        f"connection; target p95 <= {TARGET_P95_MS:.0f} ms"
    )
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    rows: list[str] = []
    for engine in engines:
        if engine == "postgresql" and not pg_available():
            print("[postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-dialect-{engine}-", dir=args.dir))
        try:
            rows += run_engine(
                engine,
                root,
                events=args.events,
                requests=args.requests,
                dialects=args.dialects.split(","),
                keep=args.keep,
            )
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    print(
        "\n| Engine | Case | HTTP p50 / p95 / p99 (ms) | Direct SQL p50 / p95 / p99 (ms) |", end=""
    )
    print(" p95 HTTP ÷ direct | p95 ≤ 20 ms |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
