"""Server memory while ingesting 1,000,000 events through the batch endpoint.

Target: the server's resident memory (VmRSS from /proc/<pid>/status, sampled every 0.5 s) stays
under 250 MB for the whole ingest. The baseline is the RSS of the same process right after it
started answering /healthz, before any event was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bench import list_latency, report
from bench.server import BenchServer, PgDatabase, pg_available, rss_kib
from bench.workload import TYPES, generate

TARGET_BYTES = 250_000_000
BATCH = 1000


@dataclass
class Sampler:
    """Samples a process's RSS on a background thread."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        began = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - began, rss_kib(self.pid)))
            self._stop.wait(self.interval)

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        """Sample until the block ends."""
        thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    @property
    def peak_kib(self) -> int:
        """Highest RSS seen."""
        return max(kib for _, kib in self.samples)


async def read_until(server: BenchServer, done: asyncio.Event, seed: int) -> int:
    """List random pages of random types until `done` is set; returns the requests made."""
    rng = random.Random(seed)
    requests = 0
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=120) as http:
        while not done.is_set():
            params: dict[str, str | int] = {
                "trigger_ref": rng.choice(TYPES),
                "per_page": 100,
                "page": rng.randrange(1, 200),
            }
            response = await http.get("/api/v1/events", params=params)
            response.raise_for_status()
            requests += 1
    return requests


async def ingest_while_reading(server: BenchServer, events: int, clients: int, readers: int) -> int:
    """Ingest, with `readers` connections listing pages until the ingest is done."""
    done = asyncio.Event()
    tasks = [asyncio.create_task(read_until(server, done, seed)) for seed in range(readers)]
    try:
        await ingest(server, events, clients)
    finally:
        done.set()
    return sum(await asyncio.gather(*tasks))


async def ingest(server: BenchServer, events: int, clients: int) -> None:
    """Post `events` events (in time order) in batches of 1,000 from `clients` connections."""
    stream = generate(events, seed=1, in_time_order=True)
    headers = {**server.headers, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while batch := [e.body() for e in itertools.islice(stream, BATCH)]:
            body = orjson.dumps({"events": batch})
            response = await http.post("/api/v1/events/batch", content=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"batch failed: {response.status_code} {response.text[:300]}")

    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))


@contextmanager
def _server(engine: str, root: Path, preload: int) -> Iterator[BenchServer]:
    with ExitStack() as stack:
        if engine == "postgresql":
            db = stack.enter_context(PgDatabase("memory"))
            server = BenchServer(root / "pg", database_url=db.dsn)
        else:
            server = BenchServer(root / "sqlite")
        if preload:
            # Bootstrap, then load directly with SQL, as bench.list_latency does.
            server.start()
            server.stop()
            if engine == "postgresql":
                asyncio.run(list_latency.load_postgres(db.dsn, preload))
            else:
                list_latency.load_sqlite(server.data_dir / "tidings.db", preload)
        yield stack.enter_context(server)


def _mb(kib: int) -> float:
    return kib * 1024 / 1_000_000


def run_engine(
    engine: str, root: Path, *, events: int, clients: int, readers: int, preload: int
) -> None:
    """Start a fresh server, ingest, and print start and peak RSS."""
    with _server(engine, root, preload) as server:
        time.sleep(1.0)  # let start-up settle before taking the baseline
        start_kib = rss_kib(server.pid)
        sampler = Sampler(server.pid)
        began = time.perf_counter()
        with sampler.running():
            reads = asyncio.run(ingest_while_reading(server, events, clients, readers))
            seconds = time.perf_counter() - began
            time.sleep(1.0)
        end_kib = rss_kib(server.pid)
    peak = sampler.peak_kib
    peak_at = next(t for t, kib in sampler.samples if kib == peak)
    print(f"[{engine}] {events:,} events in {seconds:.1f} s ({events / seconds:,.0f} events/s)")
    if preload:
        print(f"  the database held {preload:,} events (loaded by direct SQL) before the ingest")
    if readers:
        print(f"  meanwhile {readers} readers listed {reads:,} pages")
    print(f"  RSS at start (baseline): {_mb(start_kib):6.1f} MB")
    print(f"  RSS peak:                {_mb(peak):6.1f} MB (at {peak_at:.0f} s of {seconds:.0f} s)")
    print(f"  RSS at end:              {_mb(end_kib):6.1f} MB")
    print(
        f"  peak/start = {peak / start_kib:.2f}x, growth {_mb(peak - start_kib):.1f} MB; "
        f"target peak < {TARGET_BYTES / 1e6:.0f} MB: "
        f"{report.verdict(peak * 1024 < TARGET_BYTES)}"
    )
    quarter = max(1, len(sampler.samples) // 4)
    trend = ", ".join(f"{_mb(kib):.0f}" for _, kib in sampler.samples[::quarter])
    print(f"  RSS over the run (MB, each quarter): {trend}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_memory", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to ingest")
    parser.add_argument("--clients", type=int, default=3, help="concurrent HTTP connections")
    parser.add_argument("--engines", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--readers",
        type=int,
        default=0,
        help="connections listing random pages during the ingest (0: ingest only, the target)",
    )
    parser.add_argument(
        "--preload", type=int, default=0, help="events loaded by direct SQL before the ingest"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    args = parser.parse_args(argv)

    report.header("ingest_memory: server RSS while ingesting through POST /api/v1/events/batch")
    print(
        f"batches of {BATCH}, {args.clients} clients, {args.readers} concurrent readers, "
        "RSS sampled every 0.5 s"
    )
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("[postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-memory-{engine}-", dir=args.dir))
        try:
            run_engine(
                engine,
                root,
                events=args.events,
                clients=args.clients,
                readers=args.readers,
                preload=args.preload,
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
