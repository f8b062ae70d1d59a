"""1,000 schedules due at the same instant: how long after it they have all fired.

Target (issue 5): 1,000 schedules due in the same minute all fire within 2 s of their time.

In-process, wired as `tidings serve` wires it (`Services.build`, then the scheduler loop of
`workers.scheduler.build_scheduler`) on the system clock, with a fresh database per engine.
1,000 one-shot schedules are saved through the schedule service for one instant T a few seconds
ahead — all in the same second, the hardest case of "the same minute" — and the loop, which
sleeps until the earliest next fire, fires them. A tick's lag is its event's `recorded_at` minus
T (the event is committed by then; its fire row a moment later). The figure is the largest lag,
with p50 and p99.

`--timings once,cron` (the default) runs it twice: with one-shot schedules, and with per-second
cron schedules (`* * * * * *` in Europe/Paris) that start at T and end half a second later, so
that each plan walks the densest cron there is on a zone's wall clock.

Baseline, same database, same run, before and after (ABA): the same 1,000 events submitted to
the same ingest path at once, each its own request with its own idempotency key as a fire sends
it; the time from submission until the last one is committed. That is what recording 1,000
events costs at all; what scheduling adds (claiming, planning, the look-up of earlier attempts,
fire rows, advancing each schedule, waking on time) is the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import select

from bench import report
from bench.inprocess import bench_settings, database_url, default_tenant, started
from bench.server import pg_available
from tidings.domain.access import Permission, Principal, PrincipalKind
from tidings.domain.events import Event, NewEvent
from tidings.domain.schedule_times import NS
from tidings.services.ingest import IdempotencyClaim
from tidings.services.runtime import Services
from tidings.services.schedule_specs import ScheduleSpec
from tidings.storage.tables import events, tenants
from tidings.workers.scheduler import build_scheduler

TARGET_SECONDS = 2.0


@dataclass(frozen=True)
class Case:
    """One engine's figures, in seconds."""

    schedules: int
    fired: int
    lags: list[float]
    baseline_before: float
    baseline_after: float


async def _principal(services: Services) -> Principal:
    tenant_id = await default_tenant(services)
    async with services.db.read() as conn:
        query = select(tenants.c.locator).where(tenants.c.id == tenant_id)
        locator = str((await conn.execute(query)).scalar_one())
    return Principal(
        id=0,
        locator="bench",
        tenant_id=tenant_id,
        tenant_locator=locator,
        name="bench",
        kind=PrincipalKind.SERVICE,
        permissions=frozenset({Permission.ADMIN.value}),
    )


def _render(stored: list[Event]) -> tuple[int, bytes]:
    return 201, orjson.dumps([e.id for e in stored])


async def ingest_baseline(services: Services, principal: Principal, count: int, run: str) -> float:
    """Seconds until `count` single-event requests submitted at once are all committed."""

    async def one(i: int) -> None:
        key = f"bench-{run}-{i}"
        await services.ingest.ingest(
            principal=principal,
            new_events=[NewEvent(type="bench.plain", payload={"n": i})],
            request_id=key,
            render=_render,
            claim=IdempotencyClaim(key, hashlib.sha256(key.encode()).hexdigest()),
        )

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - start


async def _fired(services: Services) -> tuple[int, list[int]]:
    """How many schedule events are recorded, and their lags in nanoseconds."""
    async with services.db.read() as conn:
        query = select(events.c.recorded_at - events.c.occurred_at).where(
            events.c.request_id.like("schedule-%")
        )
        lags = [int(lag) for lag in (await conn.execute(query)).scalars()]
    return len(lags), lags


def _spec(i: int, due: int, timing: str) -> ScheduleSpec:
    if timing == "cron":
        return ScheduleSpec(
            name=f"s{i}",
            cron="* * * * * *",
            time_zone="Europe/Paris",
            start_at=due,
            end_at=due + NS // 2,
        )
    return ScheduleSpec(name=f"s{i}", at=due)


async def run(url: str | None, root: Path, count: int, timing: str = "once") -> Case:
    """Save `count` schedules due at one instant, fire them, and measure."""
    async with started(bench_settings(root, url)) as services:
        principal = await _principal(services)
        before = await ingest_baseline(services, principal, count, "before")
        # Saving takes a few milliseconds a schedule: leave room, then a whole second.
        due = (time.time_ns() + count * 20_000_000 + 2 * NS) // NS * NS + NS
        for i in range(count):
            await services.schedules.create_schedule(principal, spec=_spec(i, due, timing))
        assert time.time_ns() < due, "saving took longer than the room left: lower --schedules"
        scheduler = build_scheduler(services)
        await scheduler.start()
        try:
            deadline = time.monotonic() + (due - time.time_ns()) / NS + 60
            while True:
                fired, lags = await _fired(services)
                if fired >= count or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        finally:
            await scheduler.stop()
        after = await ingest_baseline(services, principal, count, "after")
    return Case(count, fired, [lag / NS for lag in lags], before, after)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.schedule_fires", description=__doc__)
    parser.add_argument("--schedules", type=int, default=1_000, help="schedules due at once")
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument(
        "--timings", default="once,cron", help="comma-separated: once (one-shot), cron (per-second)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    args = parser.parse_args(argv)
    report.header("schedule_fires: schedules due at one instant, fired by the scheduler loop")
    for engine, timing in itertools.product(args.engines.split(","), args.timings.split(",")):
        if engine == "postgresql" and not pg_available():
            print(f"  [postgresql, {timing}] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-sched-{engine}-", dir=args.dir))
        try:
            with database_url(engine, "schedule-fires") as url:
                case = asyncio.run(run(url, root, args.schedules, timing))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        worst = max(case.lags, default=float("inf"))
        ok = case.fired == case.schedules and worst <= TARGET_SECONDS
        baseline = (case.baseline_before + case.baseline_after) / 2
        print(f"  [{engine}, {timing}]")
        print(
            f"    {case.fired:,} of {case.schedules:,} fired; all within {worst:.3f} s of their "
            f"time (p50 {report.percentile(case.lags, 50):.3f} s, "
            f"p99 {report.percentile(case.lags, 99):.3f} s) "
            f"(target <= {TARGET_SECONDS:.0f} s: {report.verdict(ok)})"
        )
        print(
            f"    baseline, {case.schedules:,} events through ingest at once: "
            f"{case.baseline_before:.3f} s before, {case.baseline_after:.3f} s after; "
            f"last fire / baseline = {worst / baseline:.2f}x"
        )


if __name__ == "__main__":
    main()
