"""Tracker's CreateEvent over gRPC versus `POST /api/v1alpha1/event` over HTTP, on one server.

Target: gRPC CreateEvent reaches at least 80% of the requests/s of the REST create, with the
same event, the same concurrency (16 connections for wrk, 16 calls in flight for gRPC) and the
same server process (`tidings serve` runs both on one event loop), on SQLite and PostgreSQL.

The REST load is wrk with a Lua script. The gRPC load comes from a separate process
(`python -m bench.grpc_vs_rest --client …`): grpc.aio with one pre-serialized request and
`--connections` calls always in flight, responses left as bytes. To show that this generator
is not what limits the figure, it reports its own CPU use (well under one core means it was
waiting for the server), and it is also run against a method the server does not implement
(answered UNIMPLEMENTED with no auth, validation or database): the generator can drive at least
that rate, which should sit well above the CreateEvent rate. Runs
alternate ABBA on one server, and afterwards every acknowledged event must be stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import orjson

from bench import report, wrk
from bench.server import ADMIN_TOKEN, BenchServer, PgDatabase, free_port, pg_available

TARGET = 0.8
REST_PATH = "/api/v1alpha1/event"
CREATE_METHOD = "/tracker.event.v1alpha1.EventService/CreateEvent"
TRIVIAL_METHOD = "/tracker.event.v1alpha1.EventService/NoSuchMethod"
REST_SERVICE, GRPC_SERVICE, WARMUP_SERVICE = "bench-rest", "bench-grpc", "bench-warmup"


def tracker_body(service: str) -> dict[str, object]:
    """The document's gRPC create example (codes as REST integers), for `service`."""
    return {
        "title": "Deploy user-service v2.1.0",
        "attributes": {
            "message": "Deployed via GitHub Actions",
            "type": 1,
            "priority": 2,
            "service": service,
            "status": 3,
            "environment": 7,
            "startDate": "2024-01-15T10:00:00Z",
            "endDate": "2024-01-15T10:05:00Z",
        },
        "links": {"pullRequestLink": "https://github.com/org/repo/pull/123"},
    }


def grpc_request(service: str) -> bytes:
    """The same event as a serialized CreateEventRequest (string codes, snake_case)."""
    from google.protobuf import json_format

    from tidings.api.grpc.stubs import pb

    body = tracker_body(service)
    attributes = body["attributes"]
    assert isinstance(attributes, dict)
    grpc_body = {
        "title": body["title"],
        "attributes": {k: str(v) for k, v in attributes.items()},
        "links": body["links"],
    }
    return json_format.ParseDict(grpc_body, pb.CreateEventRequest()).SerializeToString()


# -- the gRPC load generator (runs in its own process) ------------------------------------------


async def _load(
    target: str, method: str, request: bytes, seconds: float, concurrency: int
) -> dict[str, object]:
    codes: Counter[str] = Counter()
    metadata = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        # Bytes in, bytes out: no (de)serialization cost in the generator.
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        await channel.channel_ready()
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                try:
                    await call(request, metadata=metadata, timeout=30)
                    codes["OK"] += 1
                except grpc.aio.AioRpcError as error:
                    codes[error.code().name] += 1

        began, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
        cpu_used = time.process_time() - cpu
    return {"codes": dict(codes), "elapsed": elapsed, "cpu": cpu_used / elapsed}


def client_main(args: argparse.Namespace) -> None:
    """`--client`: run the load and print one JSON line of results."""
    request = grpc_request(args.service) if args.method == CREATE_METHOD else b""
    result = asyncio.run(_load(args.target, args.method, request, args.duration, args.connections))
    print(json.dumps(result), flush=True)


# -- the benchmark ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One measured run: calls/s, what answered how, and the CPU it cost (fractions of a core)."""

    rate: float
    ok: int
    other: dict[str, int]
    server_cpu: float
    client_cpu: float | None


def grpc_run(
    server: BenchServer, grpc_port: int, method: str, service: str, seconds: int, concurrency: int
) -> Run:
    """Run the load generator in a separate process against `method`."""
    command = [sys.executable, "-m", "bench.grpc_vs_rest", "--client"]
    command += ["--target", f"127.0.0.1:{grpc_port}", "--method", method, "--service", service]
    command += ["--duration", str(seconds), "--connections", str(concurrency)]
    before = report.cpu_seconds(server.pid)
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    codes: dict[str, int] = result["codes"]
    expected = "UNIMPLEMENTED" if method == TRIVIAL_METHOD else "OK"
    ok = codes.pop(expected, 0)
    elapsed = float(result["elapsed"])
    server_cpu = (report.cpu_seconds(server.pid) - before) / elapsed
    return Run(ok / elapsed, ok, codes, server_cpu, float(result["cpu"]))


def rest_run(server: BenchServer, script: Path, seconds: int, connections: int) -> Run:
    """wrk against the REST create."""
    before = report.cpu_seconds(server.pid)
    result = wrk.run(server.url + REST_PATH, script, connections=connections, seconds=seconds)
    server_cpu = (report.cpu_seconds(server.pid) - before) / seconds
    other = {"non-201": result.other_status, "socket errors": result.socket_errors}
    return Run(result.requests_per_second, result.expected_status, other, server_cpu, None)


@dataclass(frozen=True)
class EngineResult:
    """Every run on one engine and the durability check."""

    engine: str
    rest: list[Run]
    grpc: list[Run]
    ceiling: Run
    stored: dict[str, int]


@contextmanager
def _server(engine: str, root: Path, grpc_port: int) -> Iterator[BenchServer]:
    env = {"TIDINGS_GRPC_PORT": str(grpc_port)}
    if engine == "postgresql":
        with (
            PgDatabase("grpc") as db,
            BenchServer(root / "pg", database_url=db.dsn, extra_env=env) as server,
        ):
            yield server
    else:
        with BenchServer(root / "sqlite", extra_env=env) as server:
            yield server


def _stored(server: BenchServer, service: str) -> int:
    # A generous timeout: PostgreSQL may be busy with other work on a shared machine.
    response = httpx.get(
        server.url + "/api/v1alpha1/events/search",
        params={"service": service, "per_page": 1},
        headers=server.headers,
        timeout=300,
    )
    response.raise_for_status()
    return int(response.json()["total"])


def run_engine(
    engine: str, root: Path, *, connections: int, seconds: int, rounds: int
) -> EngineResult:
    """Warm up, run REST and gRPC alternately (ABBA), then the generator's ceiling."""
    rest_script = wrk.write_script(
        root / "rest.lua",
        body=orjson.dumps(tracker_body(REST_SERVICE)).decode(),
        token=ADMIN_TOKEN,
        status=201,
    )
    warmup_script = wrk.write_script(
        root / "warmup.lua",
        body=orjson.dumps(tracker_body(WARMUP_SERVICE)).decode(),
        token=ADMIN_TOKEN,
        status=201,
    )
    grpc_port = free_port()
    rest_runs: list[Run] = []
    grpc_runs: list[Run] = []
    with _server(engine, root, grpc_port) as server:
        wrk.run(server.url + REST_PATH, warmup_script, connections=connections, seconds=2)
        grpc_run(server, grpc_port, CREATE_METHOD, WARMUP_SERVICE, 2, connections)
        for i in range(rounds):
            order = ["rest", "grpc"] if i % 2 == 0 else ["grpc", "rest"]
            for side in order:
                if side == "rest":
                    rest_runs.append(rest_run(server, rest_script, seconds, connections))
                else:
                    grpc_runs.append(
                        grpc_run(
                            server, grpc_port, CREATE_METHOD, GRPC_SERVICE, seconds, connections
                        )
                    )
        ceiling = grpc_run(server, grpc_port, TRIVIAL_METHOD, GRPC_SERVICE, seconds, connections)
        stored = {s: _stored(server, s) for s in (REST_SERVICE, GRPC_SERVICE)}
    return EngineResult(engine, rest_runs, grpc_runs, ceiling, stored)


def _mean(runs: list[Run]) -> float:
    return sum(r.rate for r in runs) / len(runs)


def _line(label: str, run: Run) -> str:
    client = "" if run.client_cpu is None else f", load generator CPU {run.client_cpu:4.0%}"
    failures = ", ".join(f"{k}: {v}" for k, v in run.other.items()) or "none"
    return (
        f"    {label}: {run.rate:8,.0f} calls/s, server CPU {run.server_cpu:4.0%} of one core"
        f"{client}; other answers: {failures}"
    )


def print_result(r: EngineResult, connections: int) -> bool:
    """Print one engine's figures; True when the target and the durability check hold."""
    print(f"  [{r.engine}]")
    for run in r.rest:
        print(_line("REST POST /api/v1alpha1/event       ", run))
    for run in r.grpc:
        print(_line("gRPC EventService/CreateEvent       ", run))
    print(_line("gRPC unimplemented (trivial call)   ", r.ceiling))
    ratio = _mean(r.grpc) / _mean(r.rest)
    print(
        "    "
        + report.ratio_line(
            "mean gRPC / mean REST", _mean(r.grpc), _mean(r.rest), "req/s", target=TARGET
        )
    )
    headroom = r.ceiling.rate / _mean(r.grpc)
    print(
        f"    load generator: drives at least {r.ceiling.rate:,.0f} trivial calls/s, "
        f"{headroom:.1f}x the CreateEvent rate"
    )
    durable = True
    for label, runs, service in (("REST", r.rest, REST_SERVICE), ("gRPC", r.grpc, GRPC_SERVICE)):
        acked = sum(run.ok for run in runs)
        extra = r.stored[service] - acked
        allowed = connections * len(runs)
        holds = 0 <= extra <= allowed
        durable = durable and holds
        print(
            f"    {label} durability: {acked:,} acknowledged, {r.stored[service]:,} stored "
            f"({extra:+,} in flight at the end; allowed 0..{allowed}): {report.verdict(holds)}"
        )
    return ratio >= TARGET and durable


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures (or, with --client, be the load generator)."""
    parser = argparse.ArgumentParser(prog="python -m bench.grpc_vs_rest", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument(
        "--connections", type=int, default=16, help="wrk connections = gRPC calls in flight"
    )
    parser.add_argument("--rounds", type=int, default=3, help="REST/gRPC pairs, alternated ABBA")
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--method", default=CREATE_METHOD, help=argparse.SUPPRESS)
    parser.add_argument("--service", default=GRPC_SERVICE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        client_main(args)
        return

    report.header("grpc_vs_rest: gRPC CreateEvent vs REST POST /api/v1alpha1/event")
    wrk.require_wrk()
    print(
        f"one server, {args.rounds} runs of each alternated ABBA, {args.duration} s each; "
        f"wrk -t2 -c{args.connections}; gRPC: one grpc.aio process, "
        f"{args.connections} calls in flight on one channel"
    )
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("[postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-grpc-{engine}-", dir=args.dir))
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
