"""Single-event POSTs under wrk versus the HTTP ceiling (the validate route) on the same server.

Target: `POST /api/v1/events` from 16 connections reaches at least 50% of the requests/s of
`POST /api/v1/events/validate` (the same parsing, auth and validation, storing nothing), on SQLite
and on PostgreSQL. Afterwards the number of stored events is compared with the number of 201
answers: every acknowledged event must be committed (events whose request was still in flight
when wrk stopped may be stored without wrk having read the 201, so at most one per connection
per run more is allowed). Each route is run several times, alternated ABBA, on one server.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench import report, wrk
from bench.server import ADMIN_TOKEN, BenchServer, PgDatabase, pg_available

TARGET = 0.5
MEASURED_TYPE = "bench.single"
WARMUP_TYPE = "bench.warmup"
VALIDATE = "/api/v1/events/validate"
INGEST = "/api/v1/events"


def event_body(event_type: str) -> str:
    """A realistic small event with a few dimensions."""
    return orjson.dumps(
        {
            "trigger_ref": event_type,
            "payload": {"host": "web-07", "region": "eu-west-1", "duration_ms": 412, "ok": True},
            "service": "checkout",
            "environment": "production",
            "status": "success",
            "priority": 2,
            "occurred_at": "2024-01-15T10:00:00Z",
        }
    ).decode()


@dataclass(frozen=True)
class Measured:
    """One wrk run and the server CPU it cost (fraction of one core)."""

    result: wrk.WrkResult
    cpu: float


@dataclass(frozen=True)
class EngineResult:
    """All wrk runs on one engine, and the durability check."""

    engine: str
    ceiling: list[Measured]
    ingest: list[Measured]
    stored: int

    @staticmethod
    def rate(runs: list[Measured]) -> float:
        """Mean requests/s over the runs."""
        return sum(m.result.requests_per_second for m in runs) / len(runs)


@contextmanager
def _server(engine: str, root: Path) -> Iterator[BenchServer]:
    if engine == "postgresql":
        with PgDatabase("single") as db, BenchServer(root / "pg", database_url=db.dsn) as server:
            yield server
    else:
        with BenchServer(root / "sqlite") as server:
            yield server


def _stored(server: BenchServer, event_type: str) -> int:
    response = httpx.get(
        server.url + "/api/v1/events",
        params={"trigger_ref": event_type, "per_page": 1},
        headers=server.headers,
        timeout=60,
    )
    response.raise_for_status()
    return int(response.json()["pagination"]["total_items"])


def _timed(
    server: BenchServer, path: str, script: Path, *, connections: int, seconds: int
) -> Measured:
    before = report.cpu_seconds(server.pid)
    result = wrk.run(server.url + path, script, connections=connections, seconds=seconds)
    return Measured(result, (report.cpu_seconds(server.pid) - before) / seconds)


def run_engine(
    engine: str, root: Path, *, connections: int, seconds: int, rounds: int
) -> EngineResult:
    """Warm up, then wrk the ceiling and the ingest route alternately (ABBA) on one server."""
    validate = wrk.write_script(
        root / "validate.lua", body=event_body(MEASURED_TYPE), token=ADMIN_TOKEN, status=200
    )
    ingest = wrk.write_script(
        root / "ingest.lua", body=event_body(MEASURED_TYPE), token=ADMIN_TOKEN, status=201
    )
    warmup = wrk.write_script(
        root / "warmup.lua", body=event_body(WARMUP_TYPE), token=ADMIN_TOKEN, status=201
    )
    ceiling_runs: list[Measured] = []
    ingest_runs: list[Measured] = []
    with _server(engine, root) as server:
        wrk.run(server.url + VALIDATE, validate, connections=connections, seconds=2)
        wrk.run(server.url + INGEST, warmup, connections=connections, seconds=2)
        for i in range(rounds):
            # ABBA: ceiling, ingest, ingest, ceiling, … so drift in machine load cancels out.
            order = [(VALIDATE, validate), (INGEST, ingest)]
            for path, script in order if i % 2 == 0 else reversed(order):
                measured = _timed(server, path, script, connections=connections, seconds=seconds)
                (ceiling_runs if path == VALIDATE else ingest_runs).append(measured)
        stored = _stored(server, MEASURED_TYPE)
    return EngineResult(engine, ceiling_runs, ingest_runs, stored)


def _run_line(label: str, m: Measured, expected: int) -> str:
    lat = m.result.latency_ms
    return (
        f"    {label}: {m.result.requests_per_second:8,.0f} req/s, "
        f"p50 {lat.get('50', float('nan')):6.2f} ms, p99 {lat.get('99', float('nan')):7.2f} ms, "
        f"server CPU {m.cpu:4.0%} of one core, non-{expected}: {m.result.other_status}, "
        f"socket errors: {m.result.socket_errors}"
    )


def print_result(r: EngineResult, connections: int) -> bool:
    """Print one engine's figures; True when the durability check holds."""
    print(f"  [{r.engine}]")
    for m in r.ceiling:
        print(_run_line("ceiling POST /api/v1/events/validate", m, 200))
    for m in r.ingest:
        print(_run_line("ingest  POST /api/v1/events         ", m, 201))
    p50 = sorted(m.result.latency_ms.get("50", float("nan")) for m in r.ingest)
    p99 = sorted(m.result.latency_ms.get("99", float("nan")) for m in r.ingest)
    print(
        f"    ingest latency over runs: p50 {p50[0]:.2f}-{p50[-1]:.2f} ms, "
        f"p99 {p99[0]:.2f}-{p99[-1]:.2f} ms"
    )
    print(
        "    "
        + report.ratio_line(
            "mean ingest / mean ceiling",
            EngineResult.rate(r.ingest),
            EngineResult.rate(r.ceiling),
            "req/s",
            target=TARGET,
        )
    )
    acked = sum(m.result.expected_status for m in r.ingest)
    unacked = r.stored - acked
    allowed = connections * len(r.ingest)
    durable = 0 <= unacked <= allowed
    print(
        f"    durability: {acked:,} answered 201, {r.stored:,} stored "
        f"({unacked:+,} in flight when wrk stopped; allowed 0..{allowed}): "
        f"{report.verdict(durable)}"
    )
    return durable


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.single_ingest", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=3, help="ceiling/ingest pairs, alternated ABBA…"
    )
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    args = parser.parse_args(argv)

    report.header("single_ingest: wrk POST /api/v1/events vs POST /api/v1/events/validate")
    wrk.require_wrk()
    print(
        f"wrk -t2 -c{args.connections} -d{args.duration}s --latency, one event per request, "
        f"{args.rounds} runs of each route alternated ABBA on one server"
    )
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("[postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-single-{engine}-", dir=args.dir))
        try:
            result = run_engine(
                engine,
                root,
                connections=args.connections,
                seconds=args.duration,
                rounds=args.rounds,
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print_result(result, args.connections)


if __name__ == "__main__":
    main()
