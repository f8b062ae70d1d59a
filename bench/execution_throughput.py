"""No-op executions through the worker pool, against raw writes of the same rows, in one run.

Target (issue 4): one node runs at least 500 no-op executions a second, on SQLite and on
PostgreSQL, and still at least 80% of that rate when 20,000 executions are queued beforehand.

Each case gets a fresh database. The executions are enqueued first, the way the rule engine
does it (one enforcement each, then `insert_executions`, 1,000 per group-committed write); then
the pool `tidings serve` runs in-process (`build_worker_pool(services)`: 16 slots, the default
settings) is started, and the figure is executions ÷ (last `finished_at` - pool start). Claims,
lease renewals, attempt records, enforcement statuses and finishes all go through the real code.

Baseline, same database, same run, before and after the pool (ABA): plain `sqlite3` (the
server's PRAGMAs, synchronous=FULL) or asyncpg INSERTs the same number of rows into the same
`executions` table (executemany, 1,000 per transaction), then moves them queued → running →
succeeded 16 at a time (the pool's slot count): one committed `UPDATE … WHERE id IN (SELECT …
queued, due, oldest first LIMIT 16) RETURNING id` and one committed `UPDATE … succeeded` per
batch. That is the least any durable queue on this database must write; what the pool adds
(attempt rows, enforcement statuses, leases, Python) shows in the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import report
from bench.database import connect_sqlite
from bench.inprocess import bench_settings, database_url, default_tenant, started
from bench.server import pg_available
from tidings.domain.automation import NewExecution
from tidings.domain.enforcement_ids import enforcement_id
from tidings.services.runtime import Services
from tidings.storage import enforcements as enforcement_store
from tidings.storage import executions as execution_store
from tidings.workers.factory import build_worker_pool

TARGET_RATE = 500.0
TARGET_DEEP = 0.8
CHUNK = 1_000
RAW_BATCH = 16  # the pool's default slot count (TIDINGS_WORKERS)
POOL_TAG, WARMUP_TAG, RAW_TAG = "bench.pool", "bench.warmup", "bench.raw"

_RAW_COLUMNS = (
    "tenant_id, rule_ref, action_ref, runner, parameters, status, attempts, max_attempts, "
    "timeout_seconds, available_at, cancel_requested, created_at, updated_at"
)
# Built from the constant column list above, never from input.
_SQLITE_INSERT = f"INSERT INTO executions ({_RAW_COLUMNS}) VALUES ({','.join('?' * 13)})"  # noqa: S608
_SQLITE_CLAIM = (
    "UPDATE executions SET status = 'running', attempts = attempts + 1, lease_owner = ?, "
    "lease_expires_at = ?, started_at = ?, updated_at = ? WHERE id IN (SELECT id FROM executions "
    "WHERE status = 'queued' AND available_at <= ? ORDER BY available_at, id LIMIT ?) RETURNING id"
)
_SQLITE_FINISH = (
    "UPDATE executions SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, "
    "finished_at = ?, updated_at = ? WHERE id IN ({})"
)
_PG_INSERT = (
    f"INSERT INTO executions ({_RAW_COLUMNS}) "  # noqa: S608 - constant column list
    "VALUES ($1,$2,$3,$4,$5::json,$6,$7,$8,$9,$10,$11,$12,$13)"
)
_PG_CLAIM = (
    "UPDATE executions SET status = 'running', attempts = attempts + 1, lease_owner = $1, "
    "lease_expires_at = $2, started_at = $3, updated_at = $3 WHERE id IN (SELECT id FROM "
    "executions WHERE status = 'queued' AND available_at <= $3 ORDER BY available_at, id "
    "LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id"
)
_PG_FINISH = (
    "UPDATE executions SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, "
    "finished_at = $2, updated_at = $2 WHERE id = ANY($1::bigint[])"
)


@dataclass(frozen=True)
class Raw:
    """The raw baseline: INSERT rate and queued → running → succeeded rate (rows/s)."""

    insert_rate: float
    update_rate: float


@dataclass(frozen=True)
class Case:
    """One drained queue: how fast it was filled and emptied, and the baselines around it."""

    executions: int
    enqueue_rate: float
    drain_rate: float
    first_quarter_rate: float
    cpu: float
    succeeded: int
    raw: tuple[Raw, Raw]

    def raw_mean(self) -> Raw:
        """The baseline averaged over before and after."""
        a, b = self.raw
        return Raw((a.insert_rate + b.insert_rate) / 2, (a.update_rate + b.update_rate) / 2)


def _now_ns() -> int:
    return time.time_ns()


def _raw_sqlite(path: Path, tenant_id: int, n: int) -> Raw:
    conn = connect_sqlite(path)
    try:
        now = _now_ns()
        row = (
            tenant_id,
            RAW_TAG,
            "core.noop",
            "noop",
            "{}",
            "queued",
            0,
            3,
            30.0,
            now,
            0,
            now,
            now,
        )
        began = time.perf_counter()
        for start in range(0, n, CHUNK):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_SQLITE_INSERT, [row] * min(CHUNK, n - start))
            conn.execute("COMMIT")
        inserted = time.perf_counter() - began
        began = time.perf_counter()
        while True:
            now = _now_ns()
            conn.execute("BEGIN IMMEDIATE")
            claim = (RAW_TAG, now + 30 * 10**9, now, now, now, RAW_BATCH)
            ids = [r[0] for r in conn.execute(_SQLITE_CLAIM, claim).fetchall()]
            conn.execute("COMMIT")
            if not ids:
                break
            conn.execute("BEGIN IMMEDIATE")
            finish = _SQLITE_FINISH.format(",".join("?" * len(ids)))
            conn.execute(finish, (_now_ns(), _now_ns(), *ids))
            conn.execute("COMMIT")
        updated = time.perf_counter() - began
    finally:
        conn.close()
    return Raw(n / inserted, n / updated)


async def _raw_postgres(dsn: str, tenant_id: int, n: int) -> Raw:
    conn = await asyncpg.connect(dsn)
    try:
        now = _now_ns()
        row = (tenant_id, RAW_TAG, "core.noop", "noop", "{}", "queued", 0, 3, 30.0, now, False)
        began = time.perf_counter()
        for start in range(0, n, CHUNK):
            async with conn.transaction():
                rows = [(*row, now, now)] * min(CHUNK, n - start)
                await conn.executemany(_PG_INSERT, rows)
        inserted = time.perf_counter() - began
        began = time.perf_counter()
        while True:
            now = _now_ns()
            async with conn.transaction():
                claimed = await conn.fetch(_PG_CLAIM, RAW_TAG, now + 30 * 10**9, now, RAW_BATCH)
            if not claimed:
                break
            async with conn.transaction():
                await conn.execute(_PG_FINISH, [r[0] for r in claimed], _now_ns())
        updated = time.perf_counter() - began
    finally:
        await conn.close()
    return Raw(n / inserted, n / updated)


async def _raw(services: Services, url: str | None, tenant_id: int, n: int) -> Raw:
    if url is None:
        return _raw_sqlite(services.settings.sqlite_path, tenant_id, n)
    return await _raw_postgres(url, tenant_id, n)


_ENFORCEMENT_EVENTS = itertools.count(1)


async def _enqueue(services: Services, tenant_id: int, n: int, tag: str = POOL_TAG) -> float:
    """Enqueue as the rule engine does: an enforcement per execution, then the execution."""

    async def chunk(size: int) -> None:
        async def work(conn: AsyncConnection) -> None:
            now = _now_ns()
            # No events here: each enforcement takes the id of position 0 of an unused event id.
            ids = [enforcement_id(next(_ENFORCEMENT_EVENTS), 0) for _ in range(size)]
            rows: list[tuple[object, ...]] = [
                (i, tenant_id, None, tag, "bench.tick", None, "scheduled", "passed", {}, now, now)
                for i in ids
            ]
            await enforcement_store.insert_enforcements(conn, rows)
            executions = [noop_execution(tenant_id, e, tag, now) for e in ids]
            await execution_store.insert_executions(conn, rows=executions, now=now)

        await services.db.write(work)

    began = time.perf_counter()
    for start in range(0, n, CHUNK):
        await chunk(min(CHUNK, n - start))
    return n / (time.perf_counter() - began)


def noop_execution(tenant_id: int, enforcement_id: int | None, tag: str, now: int) -> NewExecution:
    """A `core.noop` execution due at `now`, tagged `tag` (as its rule_ref)."""
    return NewExecution(
        tenant_id=tenant_id,
        enforcement_id=enforcement_id,
        rule_id=None,
        rule_ref=tag,
        event_id=None,
        action_id=None,
        action_ref="core.noop",
        runner="noop",
        entry_point=None,
        parameters={},
        sealed_parameters=None,
        max_attempts=3,
        timeout_seconds=30.0,
        available_at=now,
    )


async def _scalar(services: Services, sql: str, tag: str | None = None) -> int:
    async with services.db.read() as conn:
        return int((await conn.execute(text(sql), {"tag": tag})).scalar_one())


async def _drain(
    services: Services, n: int, tag: str = POOL_TAG
) -> tuple[float, float, float, int]:
    """Start the pool, wait for the queue to empty; (rate, first-quarter rate, CPU, succeeded)."""
    pool = build_worker_pool(services)
    cpu = time.process_time()
    began_ns = _now_ns()
    await pool.start()
    try:
        # One entry of the partial queue or lease index: the poll costs the same at any depth.
        pending_sql = (
            "SELECT EXISTS (SELECT 1 FROM executions WHERE status = 'queued') "
            "OR EXISTS (SELECT 1 FROM executions WHERE status = 'running')"
        )
        while await _scalar(services, pending_sql):
            await asyncio.sleep(0.25)
    finally:
        await pool.stop()
    cpu = time.process_time() - cpu
    async with services.db.read() as conn:
        query = text("SELECT finished_at FROM executions WHERE rule_ref = :tag ORDER BY 1")
        finished = [int(v) for v in (await conn.execute(query, {"tag": tag})).scalars()]
    seconds = (finished[-1] - began_ns) / 1e9
    quarter = max(1, n // 4)
    first_quarter = quarter / ((finished[quarter - 1] - began_ns) / 1e9)
    succeeded_sql = "SELECT count(*) FROM executions WHERE rule_ref = :tag AND status = 'succeeded'"
    succeeded = await _scalar(services, succeeded_sql, tag)
    return n / seconds, first_quarter, cpu / seconds, succeeded


async def _analyze(url: str | None) -> None:
    """`--analyze`: fresh planner statistics for the queue's tables (PostgreSQL), as autovacuum
    gives them some time after a burst."""
    if url is not None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE executions, enforcements")
        finally:
            await conn.close()


async def _case(data_dir: Path, url: str | None, n: int, warmup: int, analyze: bool) -> Case:
    async with started(bench_settings(data_dir, url)) as services:
        tenant_id = await default_tenant(services)
        if warmup:  # statement caches, connection pools, the LISTEN connection
            await _enqueue(services, tenant_id, warmup, WARMUP_TAG)
            await _drain(services, warmup, WARMUP_TAG)
        before = await _raw(services, url, tenant_id, n)
        enqueue_rate = await _enqueue(services, tenant_id, n)
        if analyze:
            await _analyze(url)
        rate, first_quarter, cpu, succeeded = await _drain(services, n)
        after = await _raw(services, url, tenant_id, n)
    return Case(n, enqueue_rate, rate, first_quarter, cpu, succeeded, (before, after))


def run_case(engine: str, root: Path, n: int, warmup: int, analyze: bool) -> Case:
    """One case on a fresh database of `engine`."""
    with database_url(engine, "executions") as url:
        return asyncio.run(
            _case(root / f"{engine}-{n}-{uuid.uuid4().hex[:6]}", url, n, warmup, analyze)
        )


def print_case(label: str, case: Case) -> None:
    """The case's figures beside its baselines."""
    raw = case.raw_mean()
    before, after = case.raw
    print(f"    [{label}: {case.executions:,} queued beforehand]")
    print(
        "      "
        + report.ratio_line(
            "enqueue (enforcement + execution, 1,000 per write)",
            case.enqueue_rate,
            raw.insert_rate,
            "rows/s",
        )
    )
    print(
        "      "
        + report.ratio_line("pool drain", case.drain_rate, raw.update_rate, "executions/s")
        + f" (raw before/after: {before.update_rate:,.0f} / {after.update_rate:,.0f})"
    )
    print(
        f"      first quarter drained at {case.first_quarter_rate:,.0f} executions/s; "
        f"process CPU {case.cpu:.0%} of one core; "
        f"succeeded {case.succeeded:,} of {case.executions:,}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.execution_throughput", description=__doc__
    )
    parser.add_argument("--executions", type=int, default=5_000, help="the shallow queue")
    parser.add_argument("--deep", type=int, default=20_000, help="the deep queue")
    parser.add_argument(
        "--warmup", type=int, default=500, help="executions drained first, not measured"
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="PostgreSQL: ANALYZE executions, enforcements after enqueueing (a what-if)",
    )
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    args = parser.parse_args(argv)
    report.header("execution_throughput: no-op executions through the worker pool vs raw SQL")
    stats = "ANALYZE after enqueueing" if args.analyze else "statistics as autovacuum left them"
    print(f"default pool (16 slots), fresh database per case, {args.warmup} warm-up; PG: {stats}")
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("  [postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-exec-{engine}-", dir=args.dir))
        try:
            shallow = run_case(engine, root, args.executions, args.warmup, args.analyze)
            deep = run_case(engine, root, args.deep, args.warmup, args.analyze)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(f"  [{engine}]")
        print_case("shallow", shallow)
        print_case("deep", deep)
        ok = shallow.succeeded == shallow.executions and deep.succeeded == deep.executions
        rate = shallow.drain_rate
        print(
            f"    no-op executions: {rate:,.0f}/s "
            f"(target >= {TARGET_RATE:,.0f}/s: {report.verdict(rate >= TARGET_RATE and ok)})"
        )
        print(
            "    "
            + report.ratio_line(
                f"with {deep.executions:,} queued",
                deep.drain_rate,
                rate,
                "executions/s",
                target=TARGET_DEEP,
            )
        )


if __name__ == "__main__":
    main()
