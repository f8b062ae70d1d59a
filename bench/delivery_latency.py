"""Event acknowledged to its webhook delivery's first attempt arriving, at a steady 200 events/s.

Target (issue 5): enqueue -> first attempt p99 <= 50 ms, on PostgreSQL and on SQLite.

The server is a real `tidings serve` subprocess (`TIDINGS_ALLOW_PRIVATE_TARGETS=1`, a fresh data
dir or PostgreSQL database, the default 16 in-process workers); with `--worker-process` on
PostgreSQL it runs no workers (`TIDINGS_WORKERS=0`) and a `tidings worker` process delivers
instead, woken by NOTIFY. One webhook subscription with a signing secret matches every event.
The receiver (`bench.delivery_loopback`) is a process of its own that stamps each request's
arrival with CLOCK_MONOTONIC, one clock for every process of the machine.

An open-loop sender (request i due at start + i/rate, whatever the answers did) posts events to
`POST /api/v1/events` and notes when each answer (201, with the event's id) came. The figure is,
per event, the first arrival of its delivery (`webhook-id: msg_<event>_<subscription>`) minus the
acknowledgement: how long after the producer was told "stored" the receiver has it. It can be
negative: the worker may deliver before the answer has reached the producer. A delivery that never
arrives within 30 s counts as infinitely late. Beside it: arrival minus the due send time (the
whole way, the POST included), and the server's side of each delivery from the executions API
(queued: ingest commit -> started; running: started -> recorded).

Baseline, same run, same sender and receiver: the same pacing straight to the receiver (a bare
HTTP POST, arrival minus due time), before and after the measured run (ABA).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bench import report
from bench.action_latency import breakdown
from bench.delivery_loopback import Posted, arrivals, paced_posts, running_receiver
from bench.server import ADMIN_TOKEN, BenchServer, PgDatabase, pg_available

P99_TARGET_MS = 50.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks docs' example key
WAIT_SECONDS = 30.0
# Server and worker open the subscription's sealed secret with the same key.
SECRET_KEY = "bench-delivery-latency-secret-key"


@dataclass(frozen=True)
class Run:
    """One paced run: per request, ms from acknowledgement and from due time to arrival."""

    label: str
    sent: int
    failed: int
    from_ack_ms: list[float]
    from_due_ms: list[float]
    missing: int
    answer_ms: list[float]


def _subscribe(server: BenchServer, receiver: str) -> int:
    body = {"target": "webhook", "url": receiver + "/hook", "secret": SECRET}
    answer = httpx.post(server.url + "/api/v1/subscriptions", headers=server.headers, json=body)
    answer.raise_for_status()
    subscription_id: int = answer.json()["data"]["id"]
    return subscription_id


def _event_body(kind: str) -> Callable[[int], bytes]:
    def body(seq: int) -> bytes:
        event = {
            "trigger_ref": "bench.deployment",
            "title": f"Deployed api build {seq}",
            "service": "api",
            "environment": "production",
            "payload": {"kind": kind, "seq": seq, "region": "eu-west-1", "ok": True},
        }
        return orjson.dumps(event)

    return body


def _wait_for(receiver: str, wanted: set[str]) -> dict[str, float]:
    """First arrival of each wanted webhook-id, waiting up to WAIT_SECONDS for the rest."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        first: dict[str, float] = {}
        for webhook_id, at in arrivals(receiver):
            if webhook_id in wanted and webhook_id not in first:
                first[webhook_id] = at
        if len(first) == len(wanted) or time.monotonic() > deadline:
            return first
        time.sleep(0.5)


def events_run(
    label: str, server: BenchServer, receiver: str, subscription: int, rate: float, seconds: float
) -> Run:
    """Paced event POSTs; latency from each acknowledgement to its delivery's arrival."""
    headers = {**server.headers, "Content-Type": "application/json"}
    posted = asyncio.run(
        paced_posts(
            server.url + "/api/v1/events",
            headers=headers,
            body=_event_body(label),
            rate=rate,
            seconds=seconds,
        )
    )
    acked = [p for p in posted if p.status == 201]
    ids = {f"msg_{p.body['data']['id']}_{subscription}": p for p in acked}
    first = _wait_for(receiver, set(ids))
    return Run(
        label,
        len(posted),
        len(posted) - len(acked),
        [(first[w] - p.acked) * 1e3 for w, p in ids.items() if w in first],
        [(first[w] - p.due) * 1e3 for w, p in ids.items() if w in first],
        len(ids) - len(first),
        [(p.acked - p.due) * 1e3 for p in acked],
    )


def direct_run(label: str, receiver: str, rate: float, seconds: float) -> Run:
    """The same pacing straight to the receiver: arrival minus due time of a bare POST."""

    def webhook_id(seq: int) -> dict[str, str]:
        return {"webhook-id": f"direct_{label}_{seq}"}

    posted: list[Posted] = asyncio.run(
        paced_posts(
            receiver + "/direct",
            headers={"Content-Type": "application/json"},
            body=lambda seq: b'{"direct":%d}' % seq,
            rate=rate,
            seconds=seconds,
            request_headers=webhook_id,
        )
    )
    due = {f"direct_{label}_{p.seq}": p for p in posted if p.status == 200}
    first = _wait_for(receiver, set(due))
    from_due = [(first[w] - p.due) * 1e3 for w, p in due.items() if w in first]
    answers = [(p.acked - p.due) * 1e3 for p in due.values()]
    return Run(label, len(posted), len(posted) - len(due), [], from_due, 0, answers)


def _pcts(values: list[float], missing: int = 0) -> tuple[float, float, float]:
    padded = values + [float("inf")] * missing
    if not padded:
        return float("nan"), float("nan"), float("nan")
    return report.percentile(padded, 50), report.percentile(padded, 99), max(padded)


@contextmanager
def _worker(database_url: str, data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`tidings worker` on the database, stopped on exit."""
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_DATA_DIR": str(data_dir),
        "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
        "TIDINGS_LOG_LEVEL": "warning",
        "TIDINGS_ALLOW_PRIVATE_TARGETS": "1",
        "TIDINGS_SECRET_KEY": SECRET_KEY,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tidings", "worker"], env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def _server(
    engine: str, root: Path, worker_process: bool
) -> Iterator[tuple[BenchServer, int | None]]:
    """The server, and the worker process's pid when there is one."""
    env = {"TIDINGS_ALLOW_PRIVATE_TARGETS": "1", "TIDINGS_SECRET_KEY": SECRET_KEY}
    if engine != "postgresql":
        with BenchServer(root / "sqlite", extra_env=env) as server:
            yield server, None
        return
    if worker_process:
        env["TIDINGS_WORKERS"] = "0"
    with (
        PgDatabase("dlatency") as db,
        BenchServer(root / "pg", database_url=db.dsn, extra_env=env) as server,
    ):
        if not worker_process:
            yield server, None
            return
        with _worker(db.dsn, root / "worker", root / "worker.log") as process:
            yield server, process.pid


def run_engine(engine: str, root: Path, *, rate: float, seconds: float, worker: bool) -> None:
    """Receiver, server, subscription, warm-up, then direct / events / direct."""
    with running_receiver() as receiver, _server(engine, root, worker) as (server, worker_pid):
        subscription = _subscribe(server, receiver)
        events_run("warm", server, receiver, subscription, rate, 3)
        before = direct_run("a", receiver, rate, seconds / 2)
        since = time.time_ns()
        pids = [server.pid] + ([worker_pid] if worker_pid else [])
        cpu = [report.cpu_seconds(pid) for pid in pids]
        ours = events_run("ev", server, receiver, subscription, rate, seconds)
        used = [(report.cpu_seconds(pid) - c) / seconds for pid, c in zip(pids, cpu, strict=True)]
        after = direct_run("b", receiver, rate, seconds / 2)
        queued, running = breakdown(server, since)
    where = "a `tidings worker` process" if worker else "16 workers in `tidings serve`"
    print(f"  [{engine}, {where}]")
    for run in (before, ours, after):
        p50, p99, worst = _pcts(run.from_due_ms, run.missing)
        a50, a99, _ = _pcts(run.answer_ms)
        print(
            f"    {run.label}: {run.sent:,} sent, {run.failed} failed answers, {run.missing} "
            f"deliveries missing; due -> arrival p50 {p50:.2f} / p99 {p99:.2f} / max "
            f"{worst:.2f} ms; answered p50 {a50:.2f} / p99 {a99:.2f} ms"
        )
    q50, q99, _ = _pcts(queued)
    r50, r99, _ = _pcts(running)
    print(
        f"    server: CPU {' + worker '.join(f'{u:.0%}' for u in used)} of one core; "
        f"{len(queued):,} deliveries: queued "
        f"(ingest commit -> started) p50 {q50:.2f} / p99 {q99:.2f} ms; running (started -> "
        f"recorded, the POST included) p50 {r50:.2f} / p99 {r99:.2f} ms"
    )
    base50, base99, _ = _pcts(before.from_due_ms + after.from_due_ms)
    o50, o99, worst = _pcts(ours.from_ack_ms, ours.missing)
    negative = sum(1 for v in ours.from_ack_ms if v < 0)
    print(
        f"    acknowledged -> first attempt arrived: p50 {o50:.2f} ms, p99 {o99:.2f} ms, max "
        f"{worst:.2f} ms ({negative:,} of {len(ours.from_ack_ms):,} arrived before the "
        f"acknowledgement reached the sender) vs baseline direct POST p50 {base50:.2f} / p99 "
        f"{base99:.2f} ms (target p99 <= {P99_TARGET_MS:.0f} ms: "
        f"{report.verdict(o99 <= P99_TARGET_MS and ours.failed == 0)})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of events")
    parser.add_argument(
        "--engines", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="PostgreSQL: deliveries by a `tidings worker` process, none in `tidings serve`",
    )
    parser.add_argument("--dir", type=Path, default=None, help="parent dir for the data dirs")
    args = parser.parse_args(argv)
    report.header("delivery_latency: event acknowledged -> webhook delivery's first attempt")
    print(
        f"{args.rate:.0f} events/s open loop for {args.duration:.0f} s, each matching one "
        f"subscription; baseline: the same pacing straight to the receiver, "
        f"{args.duration / 2:.0f} s before and after"
    )
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("  [postgresql] skipped: PostgreSQL unreachable")
            continue
        worker = args.worker_process and engine == "postgresql"
        root = Path(tempfile.mkdtemp(prefix=f"tidings-bench-dlatency-{engine}-", dir=args.dir))
        try:
            run_engine(engine, root, rate=args.rate, seconds=args.duration, worker=worker)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
