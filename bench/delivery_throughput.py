"""Webhook deliveries per second from one worker process to a loopback receiver answering 200.

Target (issue 5): >= 500 webhook deliveries/s from one worker process, on SQLite and PostgreSQL.

The worker process is this one, as in `bench.execution_throughput`: Tidings' services are built
in-process (`bench.inprocess`, the server's defaults: SQLite synchronous=FULL, 16 slots) and
drained by the pool `tidings serve` and `tidings worker` run (`build_worker_pool(services)`).
The receiver (`bench.delivery_loopback`) is another process: uvicorn with a bare ASGI app that
answers 200 and records each request's `webhook-id`.

Setup, through the native API in-process (an ASGI client on the real app): a webhook
subscription with a signing secret and a type filter, then N events posted to
`POST /api/v1/events/batch`, 1,000 a request, while no pool runs, so each event's delivery is
queued in its transaction. Then the pool starts, and the figure is N / (the last delivery's
`finished_at` - pool start). Afterwards the benchmark checks that every delivery succeeded, that
the receiver saw every `webhook-id` (and how many twice), and verifies the signatures of the
first requests it kept with the `standardwebhooks` library.

Two baselines from the same run, each taken before and after the measured drain (ABA):
- the same pool draining N no-op executions (`core.noop`) queued the same way in the same
  database: what the queue itself costs a delivery (claim, attempt record, finish);
- the same HTTP client (the guarded aiohttp client, a fresh one per run) POSTing a signed
  webhook body of the same size to the same receiver from 16 concurrent tasks, nothing else:
  the HTTP ceiling of one process.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import report
from bench.delivery_loopback import arrivals, running_receiver, unverified_samples
from bench.execution_throughput import noop_execution
from bench.inprocess import bench_settings, database_url, default_tenant, started
from bench.server import ADMIN_TOKEN, pg_available
from tidings.actions.guarded_http import GuardedClient, HttpPolicy
from tidings.api.app import create_app
from tidings.domain.automation import NewExecution
from tidings.domain.delivery_signatures import signed_headers
from tidings.services.runtime import Services
from tidings.storage import executions as execution_store
from tidings.workers.factory import build_worker_pool

TARGET_RATE = 500.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks docs' example key
BATCH = 1_000
SLOTS = 16  # the pool's default (TIDINGS_WORKERS); --slots changes it
NOOP_TAG = "bench.noop"
_PENDING = (
    "SELECT EXISTS (SELECT 1 FROM executions WHERE status = 'queued') "
    "OR EXISTS (SELECT 1 FROM executions WHERE status = 'running')"
)


@dataclass(frozen=True)
class Drain:
    """One drained queue: its rate, the process's CPU meanwhile, and the outcomes."""

    count: int
    rate: float
    cpu: float
    statuses: dict[str, int]


@dataclass(frozen=True)
class Case:
    """One engine's figures."""

    deliveries: Drain
    enqueue_rate: float
    noop: tuple[Drain, Drain]
    http: tuple[float, float]
    received: int
    distinct: int
    duplicated: int
    verified: tuple[int, int]


def _event(seq: int) -> dict[str, Any]:
    """A realistic small event (its webhook body is about 1 KB)."""
    return {
        "trigger_ref": "bench.deployment",
        "title": f"Deployed api build {seq}",
        "message": "Rolled out to every region without errors",
        "service": "api",
        "environment": "production",
        "status": "success",
        "payload": {"build": seq, "region": "eu-west-1", "duration_ms": 5300, "ok": True},
    }


async def _subscribe(api: httpx.AsyncClient, receiver: str) -> int:
    body = {
        "target": "webhook",
        "url": receiver + "/hook",
        "secret": SECRET,
        "filter": {"types": ["bench.*"]},
    }
    answer = await api.post("/api/v1/subscriptions", json=body)
    answer.raise_for_status()
    subscription_id: int = answer.json()["data"]["id"]
    return subscription_id


async def _post_events(api: httpx.AsyncClient, first: int, n: int) -> float:
    """Post n events in batches; events/s."""
    began = time.perf_counter()
    for start in range(first, first + n, BATCH):
        events = [_event(i) for i in range(start, min(start + BATCH, first + n))]
        answer = await api.post("/api/v1/events/batch", json={"events": events})
        answer.raise_for_status()
    return n / (time.perf_counter() - began)


async def _enqueue_noops(services: Services, tenant_id: int, n: int, tag: str) -> None:
    """n no-op executions tagged `tag` (as rule_ref), queued 1,000 per write."""
    now = time.time_ns()
    row = noop_execution(tenant_id, None, tag, now)
    for start in range(0, n, BATCH):
        rows = [row] * min(BATCH, n - start)

        async def work(conn: AsyncConnection, rows: list[NewExecution] = rows) -> None:
            await execution_store.insert_executions(conn, rows=rows, now=now)

        await services.db.write(work)


async def _drain(services: Services, where: str, params: dict[str, Any]) -> Drain:
    """Start a pool, wait until nothing is queued or running, stop it; the drain of the
    executions `where` selects (rate from the pool's start to the last `finished_at`)."""
    pool = build_worker_pool(services)
    cpu = time.process_time()
    began_ns = time.time_ns()
    await pool.start()
    try:
        while True:
            async with services.db.read() as conn:
                if not (await conn.execute(text(_PENDING))).scalar_one():
                    break
            await asyncio.sleep(0.1)
    finally:
        await pool.stop()
    cpu = time.process_time() - cpu
    # `where` is one of this module's constants, never input.
    query = text(f"SELECT status, finished_at FROM executions WHERE {where}")  # noqa: S608
    async with services.db.read() as conn:
        rows = (await conn.execute(query, params)).all()
    seconds = (max(int(r[1]) for r in rows) - began_ns) / 1e9
    statuses = dict(Counter(str(r[0]) for r in rows))
    return Drain(len(rows), len(rows) / seconds, cpu / seconds, statuses)


async def _noop_drain(services: Services, tenant_id: int, n: int, tag: str) -> Drain:
    await _enqueue_noops(services, tenant_id, n, tag)
    return await _drain(services, "rule_ref = :tag", {"tag": tag})


async def _http_rate(receiver: str, body: bytes, n: int, slots: int) -> float:
    """Requests/s of the guarded client POSTing `body` (signed once) from `slots` tasks."""
    client = GuardedClient(HttpPolicy(allow_private=True))
    headers = {"Content-Type": "application/json"}
    headers |= signed_headers(
        message_id="raw_0", timestamp_s=int(time.time()), body=body, secrets=(SECRET,)
    )
    left = iter(range(n))

    async def loop() -> None:
        for _ in left:
            result = await client.request("POST", receiver + "/raw", headers=headers, body=body)
            if result.status != 200:
                raise RuntimeError(f"the receiver answered {result.status}")

    try:
        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(slots)))
        return n / (time.perf_counter() - began)
    finally:
        await client.aclose()


async def _sample_body(api: httpx.AsyncClient) -> bytes:
    """A webhook body as a delivery carries it, from the warm-up's first event."""
    answer = await api.get("/api/v1/events", params={"per_page": 1})
    answer.raise_for_status()
    event_id = answer.json()["data"][0]["id"]
    full = await api.get(f"/api/v1/events/{event_id}")
    full.raise_for_status()
    return orjson.dumps(
        {
            "type": "bench.deployment",
            "timestamp": "2026-11-23T00:00:00Z",
            "data": full.json()["data"],
        }
    )


async def _case(
    data_dir: Path, url: str | None, receiver: str, n: int, warmup: int, slots: int
) -> Case:
    settings = bench_settings(data_dir, url, allow_private_targets=True, workers=slots)
    async with started(settings) as services:
        tenant_id = await default_tenant(services)
        app = create_app(services, manage_lifecycle=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://tidings.bench",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=300,
        ) as api:
            subscription = await _subscribe(api, receiver)
            where, params = "subscription_id = :s", {"s": subscription}
            # Warm-up: statement caches, connection pools, the LISTEN connection, the receiver.
            await _post_events(api, 0, warmup)
            await _drain(services, where, params)
            await _noop_drain(services, tenant_id, warmup, "bench.warmup")
            body = await _sample_body(api)
            http_before = await _http_rate(receiver, body, n, slots)
            noop_before = await _noop_drain(services, tenant_id, n, "bench.noop.before")
            params = {"s": subscription, "after": await _max_delivery(services, subscription)}
            enqueue_rate = await _post_events(api, warmup, n)
            deliveries = await _drain(services, "subscription_id = :s AND id > :after", params)
            noop_after = await _noop_drain(services, tenant_id, n, "bench.noop.after")
            http_after = await _http_rate(receiver, body, n, slots)
    seen = Counter(w for w, _ in arrivals(receiver) if w.startswith("msg_"))
    return Case(
        deliveries=deliveries,
        enqueue_rate=enqueue_rate,
        noop=(noop_before, noop_after),
        http=(http_before, http_after),
        received=sum(seen.values()),
        distinct=len(seen),
        duplicated=sum(1 for c in seen.values() if c > 1),
        verified=unverified_samples(receiver, SECRET, "msg_"),
    )


async def _max_delivery(services: Services, subscription: int) -> int:
    query = text("SELECT coalesce(max(id), 0) FROM executions WHERE subscription_id = :s")
    async with services.db.read() as conn:
        return int((await conn.execute(query, {"s": subscription})).scalar_one())


def run_case(engine: str, root: Path, n: int, warmup: int, slots: int = SLOTS) -> Case:
    """One engine: a fresh database and a fresh receiver."""
    with database_url(engine, "deliveries") as url, running_receiver() as receiver:
        data_dir = root / f"{engine}-{uuid.uuid4().hex[:6]}"
        return asyncio.run(_case(data_dir, url, receiver, n, warmup, slots))


def print_case(engine: str, case: Case, warmup: int) -> None:
    """The figures beside their baselines, and the checks."""
    d = case.deliveries
    noop = (case.noop[0].rate + case.noop[1].rate) / 2
    http = (case.http[0] + case.http[1]) / 2
    expected = d.count + warmup
    print(f"  [{engine}] {d.count:,} deliveries queued beforehand")
    print(
        "    events posted (1,000 per batch, their deliveries queued with them): "
        f"{case.enqueue_rate:,.0f}/s"
    )
    print(
        "    "
        + report.ratio_line("delivery drain vs no-op drain", d.rate, noop, "/s")
        + f" (no-op before/after: {case.noop[0].rate:,.0f} / {case.noop[1].rate:,.0f})"
    )
    print(
        "    "
        + report.ratio_line("delivery drain vs raw HTTP", d.rate, http, "requests/s")
        + f" (raw before/after: {case.http[0]:,.0f} / {case.http[1]:,.0f})"
    )
    checked, failed = case.verified
    print(
        f"    process CPU {d.cpu:.0%} of one core (no-op drains {case.noop[0].cpu:.0%} / "
        f"{case.noop[1].cpu:.0%}); statuses {d.statuses}; receiver: {case.received:,} requests, "
        f"{case.distinct:,} distinct webhook-ids of {expected:,} expected, {case.duplicated} "
        f"seen twice; signatures: {checked - failed} of {checked} kept requests verified"
    )
    ok = (
        d.statuses == {"succeeded": d.count}
        and case.distinct == expected
        and failed == 0
        and checked > 0
    )
    print(
        f"    webhook deliveries: {d.rate:,.0f}/s (target >= {TARGET_RATE:,.0f}/s: "
        f"{report.verdict(d.rate >= TARGET_RATE and ok)})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.delivery_throughput", description=__doc__
    )
    parser.add_argument("--deliveries", type=int, default=5_000, help="queued before the drain")
    parser.add_argument("--warmup", type=int, default=500, help="drained first, not measured")
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument(
        "--slots", type=int, default=SLOTS, help="the pool's slots (TIDINGS_WORKERS)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    args = parser.parse_args(argv)
    report.header("delivery_throughput: webhook deliveries from one worker process")
    print(
        f"in-process pool ({args.slots} slots, server defaults), receiver in its own process; "
        f"baselines before and after: no-op executions through the same pool, and the guarded "
        f"client alone from {args.slots} tasks"
    )
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("  [postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-delivery-{engine}-", dir=args.dir))
        try:
            case = run_case(engine, root, args.deliveries, args.warmup, args.slots)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print_case(engine, case, args.warmup)


if __name__ == "__main__":
    main()
