"""A 4 MB action result stored and read back through the real storage functions, against a raw
write and read of the same bytes into a plain table of the same database, in one run.

Target (issue 4): a 4 MB result is stored and read back in at most 100 ms.

Measured, per round, on a fresh execution: `save_result` in a group-committed write
(`services.db.write`, as every write of the server), then `ExecutionAdmin.get`, the read behind
`GET /api/v1/executions/{id}` (the execution, its attempts and its result, in one read
transaction). The figure is write + read. Also shown, for information: rendering that answer's
body (`detail_json` + orjson, the result embedded as a fragment), and the pool's own way of
storing a result, `ExecutionQueue.succeed` (a claimed execution finished with the 4 MB result).

Baseline, same database, same run, rounds alternated with the measured ones: plain `sqlite3`
(the server's PRAGMAs, synchronous=FULL) or asyncpg INSERTs the same bytes into a plain table
(`id, content BLOB/bytea`) in its own transaction, then SELECTs them back.

The result is 4 MiB of JSON whose string is base64 of random bytes: incompressible, so
PostgreSQL's TOAST compression gains nothing from it (as it would not from most real output).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import report
from bench.database import connect_sqlite
from bench.inprocess import bench_settings, database_url, default_tenant, started
from bench.server import ADMIN_TOKEN, pg_available
from tidings.api.schemas.executions import detail_json
from tidings.domain.automation import NewExecution
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.runtime import Services
from tidings.storage import executions as execution_store
from tidings.storage.execution_outcomes import save_result

TARGET_MS = 100.0
SIZE = 4 * 1024 * 1024


def make_result(size: int) -> bytes:
    """`{"output": "<base64 of random bytes>"}`, exactly `size` bytes of JSON."""
    text = base64.b64encode(os.urandom(size)).decode()[: size - len('{"output":""}')]
    content = orjson.dumps({"output": text})
    assert len(content) == size
    return content


@dataclass
class Timings:
    """Milliseconds per round, by step."""

    steps: dict[str, list[float]] = field(default_factory=dict)

    def add(self, step: str, seconds: float) -> None:
        """Record one round of `step`."""
        self.steps.setdefault(step, []).append(seconds * 1e3)

    def line(self, step: str) -> str:
        """p50 / p95 / max of `step`."""
        values = self.steps[step]
        p50, p95 = report.percentile(values, 50), report.percentile(values, 95)
        return f"p50 {p50:7.2f} / p95 {p95:7.2f} / max {max(values):7.2f} ms"


async def _timed(timings: Timings, step: str, call: Callable[[], Awaitable[object]]) -> object:
    began = time.perf_counter()
    value = await call()
    timings.add(step, time.perf_counter() - began)
    return value


def _execution(tenant_id: int) -> NewExecution:
    now = time.time_ns()
    return NewExecution(
        tenant_id=tenant_id,
        enforcement_id=None,
        rule_id=None,
        rule_ref=None,
        event_id=None,
        action_id=None,
        action_ref="core.echo",
        runner="echo",
        entry_point=None,
        parameters={},
        sealed_parameters=None,
        max_attempts=3,
        timeout_seconds=30.0,
        # Far in the future: the `succeed` step claims its own execution, never these.
        available_at=now + 10**18,
    )


async def _new_execution(services: Services, tenant_id: int, *, due: bool = False) -> int:
    row = _execution(tenant_id)
    if due:
        row = dataclasses.replace(row, available_at=0)

    async def work(conn: AsyncConnection) -> int:
        [execution_id] = await execution_store.insert_executions(
            conn, rows=[row], now=time.time_ns()
        )
        return execution_id

    return await services.db.write(work)


class RawBlobs:
    """The baseline: a plain table in the same database, written and read with the bare driver."""

    def __init__(self, services: Services, url: str | None) -> None:
        self._path = services.settings.sqlite_path
        self._url = url
        self._pg: asyncpg.Connection | None = None
        self._next = 0

    async def open(self) -> None:
        """Create the table."""
        if self._url is None:
            conn = connect_sqlite(self._path)
            conn.execute("CREATE TABLE bench_blobs (id INTEGER PRIMARY KEY, content BLOB NOT NULL)")
            conn.close()
        else:
            self._pg = await asyncpg.connect(self._url)
            await self._pg.execute(
                "CREATE TABLE bench_blobs (id bigint PRIMARY KEY, content bytea NOT NULL)"
            )

    async def round(self, timings: Timings, content: bytes) -> None:
        """Write `content` in a transaction of its own, then read it back."""
        self._next += 1
        row_id = self._next
        if self._pg is None:
            conn = connect_sqlite(self._path)
            try:
                began = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO bench_blobs VALUES (?, ?)", (row_id, content))
                conn.execute("COMMIT")
                timings.add("write", time.perf_counter() - began)
                began = time.perf_counter()
                (back,) = conn.execute(
                    "SELECT content FROM bench_blobs WHERE id = ?", (row_id,)
                ).fetchone()
                timings.add("read", time.perf_counter() - began)
            finally:
                conn.close()
        else:
            pg = self._pg
            began = time.perf_counter()
            async with pg.transaction():
                await pg.execute("INSERT INTO bench_blobs VALUES ($1, $2)", row_id, content)
            timings.add("write", time.perf_counter() - began)
            began = time.perf_counter()
            back = await pg.fetchval("SELECT content FROM bench_blobs WHERE id = $1", row_id)
            timings.add("read", time.perf_counter() - began)
        assert bytes(back) == content
        steps = timings.steps
        timings.add("total", (steps["write"][-1] + steps["read"][-1]) / 1e3)

    async def close(self) -> None:
        """Close the PostgreSQL connection."""
        if self._pg is not None:
            await self._pg.close()


async def _ours(services: Services, tenant_id: int, timings: Timings, content: bytes) -> None:
    principal = await services.auth.authenticate(ADMIN_TOKEN)
    execution_id = await _new_execution(services, tenant_id)
    await _timed(
        timings,
        "write",
        lambda: services.db.write(
            lambda conn: save_result(conn, execution_id=execution_id, content=content)
        ),
    )
    began = time.perf_counter()
    detail = await services.executions.get(principal=principal, execution_id=execution_id)
    timings.add("read", time.perf_counter() - began)
    assert detail.result == content
    timings.add("total", (timings.steps["write"][-1] + timings.steps["read"][-1]) / 1e3)
    began = time.perf_counter()
    body = orjson.dumps({"data": detail_json(detail)})
    timings.add("render", time.perf_counter() - began)
    assert len(body) > len(content)


async def _succeed(services: Services, tenant_id: int, timings: Timings, content: bytes) -> None:
    queue = ExecutionQueue(services.db, clock=services.clock, box=services.box)
    await _new_execution(services, tenant_id, due=True)
    [claimed] = await queue.claim(worker="bench", limit=1, lease_seconds=30)
    await _timed(timings, "succeed", lambda: queue.succeed(claimed, worker="bench", result=content))


async def _run(data_dir: Path, url: str | None, rounds: int, size: int) -> tuple[Timings, Timings]:
    content = make_result(size)
    ours, raw = Timings(), Timings()
    # No in-process workers: the rows these rounds create are not for a pool to run.
    async with started(bench_settings(data_dir, url, workers=0)) as services:
        tenant_id = await default_tenant(services)
        blobs = RawBlobs(services, url)
        await blobs.open()
        try:
            for warm in (Timings(), Timings()):  # connections, statement caches
                await _ours(services, tenant_id, warm, content)
                await blobs.round(warm, content)
            for i in range(rounds):  # alternated, so drift in machine load hits both sides
                if i % 2 == 0:
                    await _ours(services, tenant_id, ours, content)
                    await blobs.round(raw, content)
                else:
                    await blobs.round(raw, content)
                    await _ours(services, tenant_id, ours, content)
                await _succeed(services, tenant_id, ours, content)
        finally:
            await blobs.close()
    return ours, raw


def run_engine(engine: str, root: Path, *, rounds: int, size: int) -> None:
    """Measure one engine and print its figures."""
    with database_url(engine, "results") as url:
        ours, raw = asyncio.run(_run(root / engine, url, rounds, size))
    print(f"  [{engine}] {rounds} rounds of {size / 2**20:.0f} MiB")
    for step, label in (
        ("write", "save_result (group-committed write)"),
        ("read", "ExecutionAdmin.get (detail + result)"),
        ("total", "stored + read back"),
    ):
        print(f"    {label:38} {ours.line(step)}   raw: {raw.line(step)}")
    print(f"    {'rendering the GET answer (information)':38} {ours.line('render')}")
    print(f"    {'ExecutionQueue.succeed (information)':38} {ours.line('succeed')}")
    p50 = report.percentile(ours.steps["total"], 50)
    p95 = report.percentile(ours.steps["total"], 95)
    base = report.percentile(raw.steps["total"], 50)
    print(
        f"    stored + read back p50: {p50:.2f} ms vs baseline {base:.2f} ms = {p50 / base:.1f}x "
        f"(target <= {TARGET_MS:.0f} ms: {report.verdict(p50 <= TARGET_MS)}; "
        f"p95 {p95:.2f} ms: {report.verdict(p95 <= TARGET_MS)})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.result_storage", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=SIZE, help="bytes of JSON")
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    args = parser.parse_args(argv)
    report.header("result_storage: a 4 MB result stored and read back vs raw bytes")
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("  [postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-results-{engine}-", dir=args.dir))
        try:
            run_engine(engine, root, rounds=args.rounds, size=args.size)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
