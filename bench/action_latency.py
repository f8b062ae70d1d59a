"""Event POST to the action's HTTP request arriving at a receiver, at a paced 200 events/s.

Target (issue 4): with 100 rules on the event's trigger (one matches and calls `core.http_request`
to a loopback receiver, the 99 others fail their condition), an event sent at 200/s reaches the
receiver as the action's request with p50 <= 25 ms and p99 <= 100 ms.

The server is a real `tidings serve` subprocess (`TIDINGS_ALLOW_PRIVATE_TARGETS=1`, a fresh data
dir or PostgreSQL database, the default 16 workers in-process). The catalogue is built through the
API: a pack, a trigger and 100 rules, the matching one created last. The receiver and the
open-loop sender are in `bench.loopback`: the event carries its due send time, the receiver
stamps the action's request on arrival (one system-wide monotonic clock), latency = arrival -
sent. Afterwards the executions API gives the server's side: how long each execution waited
from the ingest transaction to its claim, and how long it ran (claim to recorded outcome).

Baseline, same run, same receiver and sender: the same paced POSTs sent straight to the receiver
(a bare HTTP round trip, no Tidings), before and after the measured run (ABA).

Then, unless `--capacity 0`, the server is overloaded (by default 400 events/s for half the run's
length) and the events whose action arrived per second, from the first send to the last arrival,
are its capacity: the rate it completes end to end, which the target rate must stay well below
for latency to stay low.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import loopback, report
from bench.loopback import Sent, Target, arrivals, paced, running_receiver
from bench.server import BenchServer, PgDatabase, pg_available
from tidings.domain.timestamps import format_rfc3339, parse_rfc3339

P50_TARGET_MS, P99_TARGET_MS = 25.0, 100.0
TRIGGER = "bench.tick"
MATCHING = "hit"

# -- the benchmark ------------------------------------------------------------------------------


def build_catalogue(server: BenchServer, receiver: str, rules: int) -> None:
    """A pack, the trigger, and `rules` rules on it; only the last one matches the events."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as http:
        http.post("/api/v1/packs", json={"ref": "bench", "label": "Bench"}).raise_for_status()
        trigger = {"ref": TRIGGER, "pack_ref": "bench", "label": "Tick"}
        http.post("/api/v1/triggers", json=trigger).raise_for_status()
        for i in range(rules):
            route = MATCHING if i == rules - 1 else f"other-{i}"
            body = {k: f"{{{{ event.payload.{k} }}}}" for k in ("kind", "seq", "sent")}
            rule = {
                "ref": f"bench.rule_{i:03d}",
                "pack_ref": "bench",
                "label": f"Rule {i}",
                "description": "latency benchmark",
                "action_ref": "core.http_request",
                "trigger_ref": TRIGGER,
                "conditions": {"==": [{"var": "route"}, route]},
                "action_params": {"method": "POST", "url": receiver + "/hit", "body": body},
            }
            http.post("/api/v1/rules", json=rule).raise_for_status()


@dataclass(frozen=True)
class Run:
    """One paced run: latencies (ms) of what arrived, and what the sender saw."""

    label: str
    latency_ms: list[float]
    missing: int
    sent: Sent
    server_cpu: float | None


def events(server: BenchServer, kind: str) -> Target:
    """Events of the trigger that the last rule matches, carrying `kind`, `seq` and `sent`."""

    def body(seq: int, sent: float) -> bytes:
        payload = {"route": MATCHING, "kind": kind, "seq": seq, "sent": sent}
        return orjson.dumps({"trigger_ref": TRIGGER, "payload": payload})

    headers = {**server.headers, "Content-Type": "application/json"}
    return Target(server.url + "/api/v1/events", headers, body, 201)


def direct(receiver: str, kind: str) -> Target:
    """The same pacing straight to the receiver: a bare HTTP round trip."""

    def body(seq: int, sent: float) -> bytes:
        return orjson.dumps({"kind": kind, "seq": seq, "sent": sent})

    return Target(receiver + "/hit", {"Content-Type": "application/json"}, body, 200)


def measure(
    label: str,
    target: Target,
    receiver: str,
    kind: str,
    *,
    rate: float,
    seconds: float,
    server: BenchServer | None = None,
) -> Run:
    """Send paced requests, wait (up to 30 s) for their arrivals, and collect latencies."""
    cpu = report.cpu_seconds(server.pid) if server else 0.0
    sent = asyncio.run(paced(target, rate=rate, seconds=seconds))
    server_cpu = (report.cpu_seconds(server.pid) - cpu) / seconds if server else None
    deadline = time.monotonic() + 30
    while len(got := arrivals(receiver, kind)) < sent.count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    latencies = [v * 1e3 for v in got.values()]
    return Run(label, latencies, sent.count - len(got), sent, server_cpu)


def completed_per_second(receiver: str, kind: str, rate: float) -> float:
    """Events whose action arrived, per second from the first send to the last arrival: under
    overload, how many a second the server completes end to end (its capacity)."""
    got = arrivals(receiver, kind)
    if not got:
        return 0.0
    # Request `seq` was due at seq / rate after the start; its arrival came `latency` later.
    end = max(seq / rate + latency for seq, latency in got.items())
    return len(got) / end


def breakdown(server: BenchServer, since_ns: int) -> tuple[list[float], list[float]]:
    """Queue wait (created -> started) and run time (started -> finished), in ms, of the
    executions created since `since_ns`, from the executions API."""
    queued: list[float] = []
    running: list[float] = []
    params: dict[str, Any] = {"per_page": 100, "start": format_rfc3339(since_ns)}
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as http:
        while True:
            answer = http.get("/api/v1/executions", params=params)
            page = answer.json()
            if "data" not in page:
                log = server.log_path.read_text()[-3000:]
                problem = f"executions API: {answer.status_code} {answer.text[:500]}"
                raise RuntimeError(f"{problem}\nserver log:\n{log}")
            for item in page["data"]:
                if item["started"] and item["finished"]:
                    created, started, finished = (
                        parse_rfc3339(item[k]) for k in ("created", "started", "finished")
                    )
                    queued.append((started - created) / 1e6)
                    running.append((finished - started) / 1e6)
            if not (cursor := page["pagination"]["next_cursor"]):
                return queued, running
            params["cursor"] = cursor


def _percentiles(values: list[float], missing: int = 0) -> tuple[float, float, float]:
    """p50, p99, max; anything that never arrived counts as infinitely late."""
    padded = values + [float("inf")] * missing
    return report.percentile(padded, 50), report.percentile(padded, 99), max(padded)


def print_run(run: Run) -> None:
    """One run's latencies and the sender's view."""
    p50, p99, worst = _percentiles(run.latency_ms, run.missing)
    a50, a99, _ = _percentiles(run.sent.answer_ms)
    cpu = "" if run.server_cpu is None else f"; server CPU {run.server_cpu:.0%} of one core"
    failures = ", ".join(f"{n} {why}" for why, n in run.sent.failures.items()) or "none"
    print(
        f"    {run.label}: {run.sent.count:,} sent, {len(run.latency_ms):,} arrived, "
        f"{run.missing} missing, failed answers: {failures}; "
        f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {worst:.2f} ms"
    )
    print(
        f"      sender: answer p50 {a50:.2f} ms, p99 {a99:.2f} ms; left late p99 "
        f"{report.percentile(run.sent.lag_ms, 99):.2f} ms{cpu}"
    )


def run_engine(
    engine: str,
    root: Path,
    *,
    rules: int,
    rate: float,
    seconds: float,
    capacity_rate: float = 0.0,
) -> None:
    """Receiver, server, catalogue, warm-up, then direct / events / direct."""
    env = {"TIDINGS_ALLOW_PRIVATE_TARGETS": "1"}
    with running_receiver("bench.action_latency") as receiver, _server(engine, root, env) as server:
        build_catalogue(server, receiver, rules)
        measure("warm-up", events(server, "warm"), receiver, "warm", rate=rate, seconds=3)
        label = "baseline {} (direct POST to the receiver)"
        before = measure(
            label.format("before"),
            direct(receiver, "a"),
            receiver,
            "a",
            rate=rate,
            seconds=seconds / 2,
        )
        since = time.time_ns()
        ours = measure(
            "event POST -> rule -> http_request -> receiver",
            events(server, "ev"),
            receiver,
            "ev",
            rate=rate,
            seconds=seconds,
            server=server,
        )
        after = measure(
            label.format("after"),
            direct(receiver, "b"),
            receiver,
            "b",
            rate=rate,
            seconds=seconds / 2,
        )
        queued, running = breakdown(server, since)
        capacity = None
        if capacity_rate:
            overload = measure(
                f"capacity (overload at {capacity_rate:.0f} events/s)",
                events(server, "cap"),
                receiver,
                "cap",
                rate=capacity_rate,
                seconds=seconds / 2,
                server=server,
            )
            capacity = (overload, completed_per_second(receiver, "cap", capacity_rate))
    print(f"  [{engine}]")
    for run in (before, ours, after):
        print_run(run)
    q50, q99, _ = _percentiles(queued)
    r50, r99, _ = _percentiles(running)
    print(
        f"      server side, {len(queued):,} executions: queued (ingest commit -> claimed) "
        f"p50 {q50:.2f} / p99 {q99:.2f} ms; running (claimed -> recorded, incl. the request) "
        f"p50 {r50:.2f} / p99 {r99:.2f} ms"
    )
    if capacity is not None:
        overload, per_second = capacity
        print(
            f"    capacity: {per_second:,.0f} events/s completed end to end while sent "
            f"{overload.sent.count / (seconds / 2):,.0f}/s ({len(overload.latency_ms):,} of "
            f"{overload.sent.count:,} arrived; server CPU "
            f"{(overload.server_cpu or 0):.0%} of one core) vs the target rate {rate:.0f}/s"
        )
    base50, base99, _ = _percentiles(
        before.latency_ms + after.latency_ms, before.missing + after.missing
    )
    ours50, ours99, _ = _percentiles(ours.latency_ms, ours.missing)
    for name, figure, base, target in (
        ("p50", ours50, base50, P50_TARGET_MS),
        ("p99", ours99, base99, P99_TARGET_MS),
    ):
        print(
            f"    {name}: {figure:.2f} ms vs baseline {base:.2f} ms = {figure / base:.1f}x "
            f"(target <= {target:.0f} ms: {report.verdict(figure <= target)})"
        )


@contextmanager
def _server(engine: str, root: Path, env: dict[str, str]) -> Iterator[BenchServer]:
    if engine == "postgresql":
        with (
            PgDatabase("latency") as db,
            BenchServer(root / "pg", database_url=db.dsn, extra_env=env) as server,
        ):
            yield server
    else:
        with BenchServer(root / "sqlite", extra_env=env) as server:
            yield server


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures (or, with --receiver, be the receiver)."""
    parser = argparse.ArgumentParser(prog="python -m bench.action_latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of events")
    parser.add_argument("--rules", type=int, default=100, help="rules on the trigger")
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    parser.add_argument(
        "--capacity",
        type=float,
        default=400.0,
        help="after the runs, overload the server at this rate to measure its capacity (0: skip)",
    )
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        loopback.receiver_main(args.port)
        return
    report.header("action_latency: event POST -> action HTTP request at a loopback receiver")
    print(
        f"{args.rules} rules on the trigger (1 matching), {args.rate:.0f} events/s open loop "
        f"for {args.duration:.0f} s; baseline: the same pacing straight to the receiver, "
        f"{args.duration / 2:.0f} s before and after"
    )
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("  [postgresql] skipped: PostgreSQL unreachable")
            continue
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-latency-{engine}-", dir=args.dir))
        try:
            run_engine(
                engine,
                root,
                rules=args.rules,
                rate=args.rate,
                seconds=args.duration,
                capacity_rate=args.capacity,
            )
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
