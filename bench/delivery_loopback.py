"""The far end of the delivery benchmarks: a webhook receiver in a process of its own, and an
open-loop sender of event POSTs that notes when each was acknowledged.

The receiver is a bare ASGI app under uvicorn (uvloop and httptools), so it answers 200 in a few
tens of microseconds of CPU and is not what a benchmark measures; being another process, it does
not compete with the worker for a GIL. For every POST it records the `webhook-id` header and the
arrival time, `time.monotonic()`: CLOCK_MONOTONIC on Linux, one clock for every process of the
machine, so arrival minus a time stamped in another process is a latency. It keeps the first
requests whole (headers and body) so the benchmark can check their signatures. With
`--delay-first S` it holds the first request of each `webhook-id` for S seconds before answering
and answers any later one at once: a worker killed during the delay holds its deliveries, and
the redelivery is seen as soon as it comes.

The sender is open-loop (request i is due at start + i/rate whatever the answers did) over
aiohttp, and reports each request's due time, acknowledgement time and answer body.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from bench.loopback import Receive, Send, read_body, send_json
from bench.server import free_port

SAMPLES_KEPT = 200

# -- the receiver -------------------------------------------------------------------------------

_ARRIVALS: list[tuple[str, float]] = []
_SAMPLES: list[dict[str, str]] = []
_SEEN: set[str] = set()
_SETTINGS = {"delay_first": 0.0}  # set once by receiver_main


async def receiver_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Record POSTs (webhook-id, arrival); GET /arrivals and /samples return what was recorded."""
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    arrived = time.monotonic()
    answer = b'{"ok":true}'
    if scope["method"] == "POST":
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        webhook_id = headers.get("webhook-id", "")
        _ARRIVALS.append((webhook_id, arrived))
        if len(_SAMPLES) < SAMPLES_KEPT:
            _SAMPLES.append({**headers, ":body": base64.b64encode(body).decode()})
        if (delay := _SETTINGS["delay_first"]) and webhook_id not in _SEEN:
            _SEEN.add(webhook_id)
            await asyncio.sleep(delay)
    elif scope["path"] == "/samples":
        answer = orjson.dumps(_SAMPLES)
    else:
        answer = orjson.dumps(_ARRIVALS)
    await send_json(send, answer)


def receiver_main(port: int, delay_first: float) -> None:
    """Serve the receiver on 127.0.0.1:`port` until terminated."""
    import uvicorn

    _SETTINGS["delay_first"] = delay_first
    uvicorn.run(
        receiver_app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        backlog=4096,
    )


@contextmanager
def running_receiver(delay_first: float = 0.0) -> Iterator[str]:
    """The receiver in a subprocess on a free port; its URL."""
    port = free_port()
    command = [sys.executable, "-m", "bench.delivery_loopback", "--port", str(port)]
    command += ["--delay-first", str(delay_first)]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/arrivals", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def arrivals(receiver: str) -> list[tuple[str, float]]:
    """(webhook-id, arrival) of every POST so far, in arrival order."""
    rows = httpx.get(receiver + "/arrivals", timeout=120).json()
    return [(str(w), float(t)) for w, t in rows]


def unverified_samples(receiver: str, secret: str, prefix: str) -> tuple[int, int]:
    """Of the kept requests whose webhook-id starts with `prefix`: (checked, failed to verify
    with the standardwebhooks library)."""
    checked = failed = 0
    for sample in httpx.get(receiver + "/samples", timeout=60).json():
        if not sample.get("webhook-id", "").startswith(prefix):
            continue
        checked += 1
        body = base64.b64decode(sample.pop(":body"))
        try:
            Webhook(secret).verify(body, sample)
        except Exception:  # the library raises its own WebhookVerificationError
            failed += 1
    return checked, failed


# -- the sender ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """One paced request: when it was due, when its answer came, its status and JSON body."""

    seq: int
    due: float
    acked: float
    status: int
    body: Any


async def paced_posts(
    url: str,
    *,
    headers: dict[str, str],
    body: Callable[[int], bytes],
    rate: float,
    seconds: float,
    request_headers: Callable[[int], dict[str, str]] | None = None,
) -> list[Posted]:
    """POST `rate * seconds` requests, number i due at start + i/rate, each in its own task."""
    posted: list[Posted] = []
    connector = aiohttp.TCPConnector(limit=500, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(seq: int, due: float) -> None:
            extra = request_headers(seq) if request_headers else {}
            try:
                async with session.post(url, data=body(seq), headers=headers | extra) as answer:
                    raw = await answer.read()
                    acked = time.monotonic()
                    status = answer.status
            except (aiohttp.ClientError, OSError):
                posted.append(Posted(seq, due, time.monotonic(), 0, None))
                return
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
            posted.append(Posted(seq, due, acked, status, parsed))

        count = int(rate * seconds)
        start = time.monotonic() + 0.1
        tasks = []
        for seq in range(count):
            due = start + seq / rate
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(seq, due)))
        await asyncio.gather(*tasks)
    return sorted(posted, key=lambda p: p.seq)


def main() -> None:
    """`python -m bench.delivery_loopback --port P [--delay-first S]`: be the receiver."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.delivery_loopback")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-first", type=float, default=0.0)
    args = parser.parse_args()
    receiver_main(args.port, args.delay_first)


if __name__ == "__main__":
    main()
