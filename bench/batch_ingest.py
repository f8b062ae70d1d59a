"""Batch ingest over HTTP versus raw `sqlite3` executemany into the same table on the same disk.

Target: `POST /api/v1/events/batch` (1,000 events per request, a few concurrent clients) stores at
least 25% of the events/s that plain Python `sqlite3` `executemany` achieves inserting the same
rows into the same migrated schema, one transaction per 1,000 rows, with the server's PRAGMAs.
The baseline's rows are built before its clock starts (it measures the database alone); the
HTTP run's request bodies are encoded before its clock starts (it measures the server alone).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import database, report
from bench.server import BenchServer
from bench.workload import GeneratedEvent, generate, request_id

TARGET = 0.25
BATCH = 1000


@dataclass(frozen=True)
class Run:
    """One timed ingest."""

    events: int
    seconds: float
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds


def baseline(root: Path, events: list[GeneratedEvent], *, synchronous: str, label: str) -> Run:
    """Raw sqlite3 executemany of the same rows into a fresh file, one transaction per 1,000."""
    path = root / f"baseline-{synchronous.lower()}-{label}" / "tidings.db"
    path.parent.mkdir(parents=True)
    database.migrate_sqlite(path)
    conn = database.connect_sqlite(path, synchronous=synchronous)
    try:
        conn.execute(
            "INSERT INTO tenants (id, locator, name, created_at) VALUES (1, ?, 'default', 0)",
            ("00000000-0000-0000-0000-000000000001",),
        )
        now = time.time_ns()
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(events), BATCH):
            rid = request_id()
            rows.extend(
                e.row(
                    tenant_id=1,
                    actor_id=1,
                    request_id=rid,
                    now=now,
                    payload_json=orjson.dumps(e.payload).decode(),
                )
                for e in events[start : start + BATCH]
            )
        began = time.perf_counter()
        stored = database.sqlite_load(conn, rows, per_transaction=BATCH)
        seconds = time.perf_counter() - began
    finally:
        conn.close()
    return Run(stored, seconds)


async def _post_all(server: BenchServer, bodies: Sequence[bytes], clients: int) -> None:
    queue = list(reversed(bodies))
    headers = {**server.headers, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            response = await http.post("/api/v1/events/batch", content=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"batch failed: {response.status_code} {response.text[:500]}")

    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))


def _stored(server: BenchServer) -> int:
    response = httpx.get(
        server.url + "/api/v1/events", params={"per_page": 1}, headers=server.headers, timeout=60
    )
    response.raise_for_status()
    return int(response.json()["pagination"]["total_items"])


def over_http(root: Path, events: list[GeneratedEvent], *, clients: int, synchronous: str) -> Run:
    """Post the events in batches of 1,000 from `clients` concurrent connections."""
    bodies = [
        orjson.dumps({"events": [e.body() for e in events[start : start + BATCH]]})
        for start in range(0, len(events), BATCH)
    ]
    warmup = orjson.dumps({"events": [e.body() for e in generate(BATCH, seed=99)]})
    server = BenchServer(
        data_dir=root / f"server-{synchronous.lower()}",
        extra_env={"TIDINGS_SQLITE_SYNCHRONOUS": synchronous},
    )
    with server:
        asyncio.run(_post_all(server, [warmup], 1))
        cpu_before = report.cpu_seconds(server.pid)
        began = time.perf_counter()
        asyncio.run(_post_all(server, bodies, clients))
        seconds = time.perf_counter() - began
        cpu = report.cpu_seconds(server.pid) - cpu_before
        stored = _stored(server) - BATCH
    if stored != len(events):
        raise RuntimeError(f"stored {stored} events, posted {len(events)}")
    return Run(stored, seconds, server_cpu=cpu)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.batch_ingest", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events per run")
    parser.add_argument("--clients", type=int, default=3, help="concurrent HTTP connections")
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the databases")
    args = parser.parse_args(argv)

    report.header("batch_ingest: POST /api/v1/events/batch vs sqlite3 executemany")
    # Producers send events roughly as they happen: time order with jitter, 20 types interleaved.
    events = list(generate(args.events, seed=1, in_time_order=True))
    root = Path(tempfile.mkdtemp(prefix="tidings-bench-batch-", dir=args.dir))
    print(f"{len(events):,} events, batches of {BATCH}, {args.clients} clients, in {root}")
    try:
        for synchronous in ("FULL", "NORMAL"):
            # Baseline before and after the HTTP run (ABA), so drift in machine load shows.
            before = baseline(root, events, synchronous=synchronous, label="before")
            http = over_http(root, events, clients=args.clients, synchronous=synchronous)
            after = baseline(root, events, synchronous=synchronous, label="after")
            raw = Run(before.events + after.events, before.seconds + after.seconds)
            print(f"[synchronous={synchronous}]")
            print(
                f"  sqlite3 executemany: {raw.rate:,.0f} events/s "
                f"(before {before.rate:,.0f}, after {after.rate:,.0f})"
            )
            print(
                f"  HTTP batch ingest:   {http.rate:,.0f} events/s ({http.seconds:.2f} s; "
                f"server CPU {http.server_cpu / http.seconds:.0%} of one core)"
            )
            target = TARGET if synchronous == "FULL" else None
            print("  " + report.ratio_line("ratio", http.rate, raw.rate, "ev/s", target=target))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
